//! What a component imports, read from its binary before it is compiled.
//!
//! Compiling a component takes seconds when it is large (an 18 MB Python
//! component about ten), while whether its manifest entry grants what it
//! imports is written in its import section: reading that first lets a
//! deploy that could never be accepted be refused in milliseconds.
//!
//! Only the top-level component's imports are the host's business: a
//! nested component or core module imports from its parent, which wires
//! it up inside the binary. So the top level is parsed section by section
//! (wasmparser, the parser wasmtime itself uses) and nested modules and
//! components are stepped over by their section size, never read: the
//! cost is the number of top-level sections, whatever the size of the
//! code.
//!
//! This is an early answer, not the guard. Nothing here is validated, and
//! a binary this reading cannot follow is left to the compiler; once
//! compiled, the component's type is checked again (see `load`).

use wasmparser::{Chunk, Parser, Payload};

/// Why the imports could not be read here (the compiler will say more).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportsError {
    /// The binary is malformed where this reading looked.
    #[error("{0}")]
    Malformed(#[from] wasmparser::BinaryReaderError),
    /// A nested module or component runs past the end of the binary.
    #[error("a nested module or component ends past the end of the binary")]
    Truncated,
}

/// The interface names the top-level component imports, as written
/// (`strata:host/cache@0.1.2`), with the interface an import says it
/// implements, if any.
pub(crate) fn top_level(bytes: &[u8]) -> Result<Vec<&str>, ImportsError> {
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    let mut names = Vec::new();
    loop {
        let (consumed, payload) = match parser.parse(rest, true)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => return Err(ImportsError::Truncated),
        };
        rest = &rest[consumed..];
        match payload {
            Payload::ComponentImportSection(section) => {
                for import in section {
                    let import = import?;
                    names.push(import.name.name);
                    names.extend(import.name.implements);
                }
            }
            // The parser has already moved past the nested binary; only
            // its bytes are left to skip.
            Payload::ModuleSection {
                unchecked_range, ..
            }
            | Payload::ComponentSection {
                unchecked_range, ..
            } => {
                rest = bytes
                    .get(unchecked_range.end..)
                    .ok_or(ImportsError::Truncated)?;
            }
            Payload::End(_) => return Ok(names),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use wasm_encoder::{
        Component, ComponentImportSection, ComponentTypeRef, ComponentTypeSection, InstanceType,
        Module, ModuleSection, NestedComponentSection,
    };

    use super::*;

    /// A component importing each of `imports` as an (empty) instance.
    fn importing(imports: &[&str]) -> Component {
        let mut component = Component::new();
        let mut types = ComponentTypeSection::new();
        types.instance(&InstanceType::new());
        component.section(&types);
        let mut section = ComponentImportSection::new();
        for name in imports {
            section.import(*name, ComponentTypeRef::Instance(0));
        }
        component.section(&section);
        component
    }

    #[test]
    fn the_top_level_instance_imports_are_read() {
        let bytes = importing(&["strata:host/cache@0.1.2", "wasi:io/streams@0.2.6"]).finish();
        assert_eq!(
            top_level(&bytes).expect("readable"),
            ["strata:host/cache@0.1.2", "wasi:io/streams@0.2.6"]
        );
    }

    #[test]
    fn a_nested_components_imports_are_not_the_host_business() {
        let mut outer = importing(&["wasi:io/streams@0.2.6"]);
        outer.section(&NestedComponentSection(&importing(&[
            "strata:host/sql@0.1.2",
        ])));
        outer.section(&ModuleSection(&Module::new()));
        let bytes = outer.finish();
        assert_eq!(
            top_level(&bytes).expect("readable"),
            ["wasi:io/streams@0.2.6"]
        );
    }

    #[test]
    fn imports_after_a_nested_module_are_still_read() {
        let mut outer = Component::new();
        outer.section(&ModuleSection(&Module::new()));
        let nested = importing(&["strata:host/outbound@0.1.2"]);
        outer.section(&NestedComponentSection(&nested));
        let mut types = ComponentTypeSection::new();
        types.instance(&InstanceType::new());
        outer.section(&types);
        let mut imports = ComponentImportSection::new();
        imports.import("strata:host/sql@0.1.2", ComponentTypeRef::Instance(0));
        outer.section(&imports);
        let bytes = outer.finish();
        assert_eq!(
            top_level(&bytes).expect("readable"),
            ["strata:host/sql@0.1.2"]
        );
    }

    #[test]
    fn a_binary_cut_inside_a_nested_module_is_not_read() {
        let mut outer = importing(&["strata:host/sql@0.1.2"]);
        let mut module = Module::new();
        module.section(&wasm_encoder::CustomSection {
            name: "filler".into(),
            data: vec![0; 1024].into(),
        });
        outer.section(&ModuleSection(&module));
        let bytes = outer.finish();
        assert!(top_level(&bytes[..bytes.len() - 100]).is_err());
    }
}
