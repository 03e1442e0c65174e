//! [`dialect_plugin!`](crate::dialect_plugin): generates the `api-dialect` bindings in the
//! plugin crate and exports the `dialect` interface from a [`Dialect`](super::Dialect).

/// Generates the bindings of the `api-dialect` world in the calling crate and exports
/// `$ty`, a [`Dialect`](crate::dialect::Dialect) whose `Caller` is the generated
/// `bindings::metacloud::api::types::Caller`. `$wit` is the path of `wit/api` relative to
/// the plugin crate's directory.
///
/// It defines, at the place it is called:
/// - `bindings`: the generated code (`bindings::metacloud::api::types::Caller`, …);
/// - `imports`: the host's imports for handlers (`imports::compute::get_server(…)`,
///   `identity`, `images`, `metadata`, `signatures`, `types`; `config`, `log`, `metrics`);
/// - `__DialectExport`, which implements the exported `dialect` interface (`name`,
///   `routes`, `handle`, `render-error`; exported in WebAssembly builds only, so that a
///   native build links for unit tests, which may call it as the host would), with
///   `request` and `response` to turn the WIT records into the SDK's and back.
#[macro_export]
macro_rules! dialect_plugin {
    ($ty:ty, $wit:literal) => {
        /// The generated bindings of the `api-dialect` world.
        #[doc(hidden)]
        pub mod bindings {
            wit_bindgen::generate!({
                world: "api-dialect",
                path: $wit,
                generate_all,
            });
        }

        /// What the host offers handlers: state through typed operations, never directly.
        #[allow(unused_imports)]
        pub mod imports {
            pub use super::bindings::metacloud::api::{
                compute, identity, images, metadata, signatures, types,
            };
            pub use super::bindings::metacloud::host::{config, log, metrics};
        }

        $crate::__dialect_export!($ty);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __dialect_export {
    ($ty:ty) => {
        /// The exported `dialect` interface, served by the SDK from the dialect's router.
        #[doc(hidden)]
        pub struct __DialectExport;

        impl __DialectExport {
            fn access(a: $crate::dialect::Access) -> bindings::metacloud::api::types::Access {
                use bindings::metacloud::api::types::Access;
                match a {
                    $crate::dialect::Access::Public => Access::Public,
                    $crate::dialect::Access::Reader => Access::Reader,
                    $crate::dialect::Access::Member => Access::Member,
                    $crate::dialect::Access::Admin => Access::Admin,
                }
            }

            /// The SDK's request of what `handle` receives.
            #[allow(dead_code)]
            pub fn request(
                params: Vec<(String, String)>,
                caller: Option<bindings::metacloud::api::types::Caller>,
                req: bindings::metacloud::api::types::HttpRequest,
            ) -> $crate::dialect::Request<bindings::metacloud::api::types::Caller> {
                $crate::dialect::Request {
                    method: req.method,
                    path: req.path,
                    params,
                    query: req.query,
                    headers: req.headers,
                    body: req.body,
                    caller,
                }
            }

            /// The `http-response` of a reply.
            #[allow(dead_code)]
            pub fn response(
                r: $crate::dialect::Reply,
            ) -> bindings::metacloud::api::types::HttpResponse {
                let (status, headers, body) = r.into_parts();
                bindings::metacloud::api::types::HttpResponse {
                    status,
                    headers,
                    body,
                }
            }
        }

        impl bindings::exports::metacloud::api::dialect::Guest for __DialectExport {
            fn name() -> String {
                <$ty as $crate::dialect::Dialect>::NAME.to_string()
            }

            fn routes() -> Vec<bindings::metacloud::api::types::Route> {
                <$ty as $crate::dialect::Dialect>::ROUTER
                    .routes()
                    .iter()
                    .map(|r| bindings::metacloud::api::types::Route {
                        method: r.method.to_string(),
                        path: r.path.to_string(),
                        access: Self::access(r.access),
                    })
                    .collect()
            }

            fn handle(
                route: u32,
                params: Vec<(String, String)>,
                caller: Option<bindings::metacloud::api::types::Caller>,
                req: bindings::metacloud::api::types::HttpRequest,
            ) -> bindings::metacloud::api::types::HttpResponse {
                let request = Self::request(params, caller, req);
                Self::response($crate::dialect::serve::<$ty>(route, &request))
            }

            fn render_error(
                status: u16,
                message: String,
            ) -> bindings::metacloud::api::types::HttpResponse {
                Self::response($crate::dialect::refuse::<$ty>(status, &message))
            }
        }

        // Exported from the WebAssembly build only (a native build is for unit tests).
        #[cfg(target_arch = "wasm32")]
        bindings::export!(__DialectExport with_types_in bindings);
    };
}
