//! How a [`SecurityConfig`] configures a socket: the security layer sits below sockets, so
//! the method that sets a socket's options lives with the socket.

use super::Socket;
use crate::security::curve::public_key_of;
use crate::security::{ArcHandler, SecurityConfig};
use crate::Result;

impl SecurityConfig {
    /// Configures `socket` (before it binds or connects).
    pub fn apply(&self, socket: &Socket) -> Result<()> {
        match self {
            SecurityConfig::None => Ok(()),
            SecurityConfig::CurveServer { secret_key, zap } => {
                socket.set_curve_server(true)?;
                socket.set_curve_secretkey(secret_key)?;
                socket.set_curve_publickey(public_key_of(secret_key))?;
                if let Some(z) = zap {
                    socket.set_zap_handler(ArcHandler(z.clone()));
                }
                Ok(())
            }
            SecurityConfig::CurveClient {
                server_key,
                public_key,
                secret_key,
            } => {
                socket.set_curve_serverkey(server_key)?;
                socket.set_curve_publickey(public_key)?;
                socket.set_curve_secretkey(secret_key)
            }
            SecurityConfig::PlainServer { zap } => {
                socket.set_plain_server(true)?;
                if let Some(z) = zap {
                    socket.set_zap_handler(ArcHandler(z.clone()));
                }
                Ok(())
            }
            SecurityConfig::PlainClient { username, password } => {
                socket.set_plain_username(username.clone())?;
                socket.set_plain_password(password.clone())
            }
        }
    }
}
