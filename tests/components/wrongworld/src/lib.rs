//! A valid component with the wrong world: it exports a bare `run` function
//! and no `wasi:http/incoming-handler`, so the host must refuse to deploy it
//! with a clear error rather than fail on the first request.

wit_bindgen::generate!({
    inline: "package test:wrong; world wrong { export run: func(); }",
});

struct Wrong;

impl Guest for Wrong {
    /// Does nothing: the component exists only to be rejected.
    fn run() {}
}

export!(Wrong);
