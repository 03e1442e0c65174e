//! What a plugin world is to the host: one unit that owns its bindings, the data its
//! instances' imports read, and how those imports join the linker (as Spin's factors do).
//! The runtime adds WASI (nothing granted) and the base imports to every world's linker;
//! a new world is one module implementing [`World`] and a line in [`crate::WORLDS`].

use crate::state::State;
use wasmtime::component::Linker;

/// One WIT world the host serves.
pub trait World: 'static {
    /// The world as messages name it (`metacloud:api api-dialect`).
    const NAME: &'static str;
    /// The WIT packages it serves besides the base, with their major version
    /// (`metacloud:api@1`); a component importing another major is refused at load.
    const PACKAGES: &'static [&'static str];
    /// What an instance's store holds for this world's imports.
    type Data: Send + 'static;
    /// Adds the world's own imports to `linker`, each reached through
    /// [`State::import`] so that its time is credited to the plugin's deadline.
    fn add_to_linker(linker: &mut Linker<State<Self::Data>>) -> wasmtime::Result<()>;
}
