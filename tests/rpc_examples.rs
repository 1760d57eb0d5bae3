//! Runs every RPC example (one per example of the RPC chapter of aiozmq's documentation):
//! each asserts its own results and must return normally.

macro_rules! examples {
    ($($name:ident => $path:literal),* $(,)?) => {$(
        #[path = $path]
        mod $name;

        #[test]
        fn $name() {
            $name::main().check();
        }
    )*};
}

/// An example's `main` returns `()` or a `Result`; an `Err` fails the test.
trait Check {
    fn check(self);
}

impl Check for () {
    fn check(self) {}
}

impl<E: std::fmt::Debug> Check for Result<(), E> {
    fn check(self) {
        self.expect("the example failed");
    }
}

examples!(
    rpc_request_reply => "../examples/rpc_request_reply.rs",
    rpc_push_pull => "../examples/rpc_push_pull.rs",
    rpc_pub_sub => "../examples/rpc_pub_sub.rs",
    rpc_remote_procedure_call => "../examples/rpc_remote_procedure_call.rs",
    rpc_pipeline => "../examples/rpc_pipeline.rs",
    rpc_pubsub => "../examples/rpc_pubsub.rs",
    rpc_custom_exception => "../examples/rpc_custom_exception.rs",
    rpc_error_table => "../examples/rpc_error_table.rs",
    rpc_signature_validation => "../examples/rpc_signature_validation.rs",
    rpc_custom_translator => "../examples/rpc_custom_translator.rs",
    rpc_log_exceptions => "../examples/rpc_log_exceptions.rs",
    rpc_validation => "../examples/rpc_validation.rs",
    rpc_nested_namespaces => "../examples/rpc_nested_namespaces.rs",
    rpc_dict_handler => "../examples/rpc_dict_handler.rs",
    rpc_dynamic_handler => "../examples/rpc_dynamic_handler.rs",
);
