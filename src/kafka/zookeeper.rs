//! A minimal ZooKeeper client: enough of the jute wire protocol to read what 0.8-era Kafka keeps
//! there (consumer offsets under `/consumers`, topic configs under `/config/topics`) and, for
//! tests and tooling, to create nodes. One session per use, closed at the end; every network
//! step is bounded by the timeout.

use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const OP_CREATE: i32 = 1;
const OP_DELETE: i32 = 2;
const OP_GET_DATA: i32 = 4;
const OP_GET_CHILDREN: i32 = 8;
const OP_CLOSE: i32 = -11;
const NO_NODE: i32 = -101;
const NODE_EXISTS: i32 = -110;
/// Largest response accepted (ZooKeeper's own jute.maxbuffer default is 1 MiB... plus slack).
const MAX_FRAME: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ZkError {
    #[error("no node {0}")]
    NoNode(String),
    #[error("node {0} already exists")]
    NodeExists(String),
    #[error("{0}")]
    Other(String),
}

pub struct ZooKeeper {
    stream: TcpStream,
    chroot: String,
    timeout: Duration,
    xid: i32,
    server: String,
}

fn put_string(buffer: &mut Vec<u8>, text: &str) {
    put_bytes(buffer, text.as_bytes());
}

fn put_bytes(buffer: &mut Vec<u8>, bytes: &[u8]) {
    buffer.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
    buffer.extend_from_slice(bytes);
}

/// Reads big-endian jute values from a response body.
struct Reader<'a> {
    bytes: &'a [u8],
}

impl Reader<'_> {
    fn take(&mut self, count: usize) -> Result<&[u8], ZkError> {
        if self.bytes.len() < count {
            return Err(ZkError::Other("truncated ZooKeeper response".to_owned()));
        }
        let (head, tail) = self.bytes.split_at(count);
        self.bytes = tail;
        Ok(head)
    }

    fn int(&mut self) -> Result<i32, ZkError> {
        Ok(i32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }

    fn long(&mut self) -> Result<i64, ZkError> {
        Ok(i64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn buffer(&mut self) -> Result<Option<Vec<u8>>, ZkError> {
        let length = self.int()?;
        if length < 0 {
            return Ok(None);
        }
        Ok(Some(self.take(length as usize)?.to_vec()))
    }

    fn string(&mut self) -> Result<String, ZkError> {
        let bytes = self.buffer()?.unwrap_or_default();
        String::from_utf8(bytes).map_err(|_| ZkError::Other("a node name is not UTF-8".to_owned()))
    }
}

impl ZooKeeper {
    /// Connects to the first reachable server of `connect` (`host:port,host:port/chroot`).
    pub async fn connect(connect: &str, timeout: Duration) -> Result<ZooKeeper, ZkError> {
        let (servers, chroot) = match connect.find('/') {
            Some(slash) => (
                &connect[..slash],
                connect[slash..].trim_end_matches('/').to_owned(),
            ),
            None => (connect, String::new()),
        };
        let mut failures = Vec::new();
        for server in servers.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match tokio::time::timeout(timeout, Self::session(server, timeout)).await {
                Ok(Ok(stream)) => {
                    return Ok(ZooKeeper {
                        stream,
                        chroot,
                        timeout,
                        xid: 0,
                        server: server.to_owned(),
                    });
                }
                Ok(Err(error)) => failures.push(format!("{server}: {error}")),
                Err(_) => failures.push(format!("{server}: no answer within {timeout:?}")),
            }
        }
        Err(ZkError::Other(format!(
            "cannot reach ZooKeeper {connect}: {}",
            if failures.is_empty() {
                "no servers given".to_owned()
            } else {
                failures.join("; ")
            }
        )))
    }

    async fn session(server: &str, timeout: Duration) -> Result<TcpStream, String> {
        let mut stream = TcpStream::connect(server)
            .await
            .map_err(|error| error.to_string())?;
        let mut request = Vec::new();
        request.extend_from_slice(&0i32.to_be_bytes()); // protocol version
        request.extend_from_slice(&0i64.to_be_bytes()); // last zxid seen
        let session_timeout = i32::try_from(timeout.as_millis()).unwrap_or(30_000);
        request.extend_from_slice(&session_timeout.to_be_bytes());
        request.extend_from_slice(&0i64.to_be_bytes()); // session id
        put_bytes(&mut request, &[0u8; 16]); // password
        request.push(0); // read-only: no
        write_frame(&mut stream, &request)
            .await
            .map_err(|error| error.to_string())?;
        let response = read_frame(&mut stream)
            .await
            .map_err(|error| error.to_string())?;
        let mut reader = Reader { bytes: &response };
        let _version = reader.int().map_err(|e| e.to_string())?;
        let negotiated = reader.int().map_err(|e| e.to_string())?;
        if negotiated <= 0 {
            return Err("the server refused the session".to_owned());
        }
        Ok(stream)
    }

    fn full_path(&self, path: &str) -> String {
        format!("{}{}", self.chroot, path)
    }

    async fn call(&mut self, op: i32, body: &[u8], path: &str) -> Result<Vec<u8>, ZkError> {
        self.xid += 1;
        let mut request = Vec::with_capacity(8 + body.len());
        request.extend_from_slice(&self.xid.to_be_bytes());
        request.extend_from_slice(&op.to_be_bytes());
        request.extend_from_slice(body);
        let timeout = self.timeout;
        let server = self.server.clone();
        let exchange = async {
            write_frame(&mut self.stream, &request).await?;
            loop {
                let frame = read_frame(&mut self.stream).await?;
                let mut reader = Reader { bytes: &frame };
                let xid = reader.int().map_err(std::io::Error::other)?;
                // -1: a watch notification, -2: a ping reply; neither answers this call.
                if xid == self.xid {
                    return Ok::<_, std::io::Error>(frame);
                }
            }
        };
        let frame = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| {
                ZkError::Other(format!(
                    "ZooKeeper {server} did not answer within {timeout:?}"
                ))
            })?
            .map_err(|error| ZkError::Other(format!("ZooKeeper {server}: {error}")))?;
        let mut reader = Reader { bytes: &frame };
        let _xid = reader.int()?;
        let _zxid = reader.long()?;
        match reader.int()? {
            0 => Ok(reader.bytes.to_vec()),
            NO_NODE => Err(ZkError::NoNode(path.to_owned())),
            NODE_EXISTS => Err(ZkError::NodeExists(path.to_owned())),
            code => Err(ZkError::Other(format!(
                "ZooKeeper {server} failed the request on {path} with error code {code}"
            ))),
        }
    }

    /// The children of a node, sorted.
    pub async fn children(&mut self, path: &str) -> Result<Vec<String>, ZkError> {
        let mut body = Vec::new();
        put_string(&mut body, &self.full_path(path));
        body.push(0); // no watch
        let response = self.call(OP_GET_CHILDREN, &body, path).await?;
        let mut reader = Reader { bytes: &response };
        let count = reader.int()?.max(0) as usize;
        let mut children = Vec::with_capacity(count.min(100_000));
        for _ in 0..count {
            children.push(reader.string()?);
        }
        children.sort();
        Ok(children)
    }

    /// The data of a node (`None` for a node without data).
    pub async fn data(&mut self, path: &str) -> Result<Option<Vec<u8>>, ZkError> {
        let mut body = Vec::new();
        put_string(&mut body, &self.full_path(path));
        body.push(0);
        let response = self.call(OP_GET_DATA, &body, path).await?;
        Reader { bytes: &response }.buffer()
    }

    /// Creates a persistent node open to everyone (the ACL Kafka itself uses without
    /// `zookeeper.set.acl`).
    pub async fn create(&mut self, path: &str, data: &[u8]) -> Result<(), ZkError> {
        let mut body = Vec::new();
        put_string(&mut body, &self.full_path(path));
        put_bytes(&mut body, data);
        body.extend_from_slice(&1i32.to_be_bytes()); // one ACL
        body.extend_from_slice(&31i32.to_be_bytes()); // all permissions
        put_string(&mut body, "world");
        put_string(&mut body, "anyone");
        body.extend_from_slice(&0i32.to_be_bytes()); // persistent
        self.call(OP_CREATE, &body, path).await.map(|_| ())
    }

    /// Creates a node and any missing parents; an existing node is left as it is.
    pub async fn create_all(&mut self, path: &str, data: &[u8]) -> Result<(), ZkError> {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        for depth in 1..parts.len() {
            let parent = format!("/{}", parts[..depth].join("/"));
            match self.create(&parent, &[]).await {
                Ok(()) | Err(ZkError::NodeExists(_)) => {}
                Err(error) => return Err(error),
            }
        }
        self.create(path, data).await
    }

    /// Deletes a node (any version).
    pub async fn delete(&mut self, path: &str) -> Result<(), ZkError> {
        let mut body = Vec::new();
        put_string(&mut body, &self.full_path(path));
        body.extend_from_slice(&(-1i32).to_be_bytes());
        self.call(OP_DELETE, &body, path).await.map(|_| ())
    }

    /// Ends the session (its ephemeral nodes go at once).
    pub async fn close(mut self) {
        let _ = self.call(OP_CLOSE, &[], "/").await;
    }
}

async fn write_frame(stream: &mut TcpStream, payload: &[u8]) -> std::io::Result<()> {
    let mut frame = Vec::with_capacity(4 + payload.len());
    frame.extend_from_slice(&(payload.len() as i32).to_be_bytes());
    frame.extend_from_slice(payload);
    stream.write_all(&frame).await
}

async fn read_frame(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let length = stream.read_i32().await?;
    if length < 0 || length as usize > MAX_FRAME {
        return Err(std::io::Error::other(format!(
            "a ZooKeeper frame of {length} bytes is out of bounds"
        )));
    }
    let mut payload = vec![0u8; length as usize];
    stream.read_exact(&mut payload).await?;
    Ok(payload)
}

/// The committed offsets a 0.8-era (ZooKeeper-based) consumer group keeps for `topic`:
/// `/consumers/GROUP/offsets/TOPIC/PARTITION` holds the offset as decimal text.
pub async fn group_offsets(
    zookeeper: &mut ZooKeeper,
    group: &str,
    topic: &str,
) -> Result<Vec<(i32, i64)>, ZkError> {
    let base = format!("/consumers/{group}/offsets/{topic}");
    let partitions = match zookeeper.children(&base).await {
        Ok(partitions) => partitions,
        Err(ZkError::NoNode(_)) => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    let mut offsets = Vec::new();
    for partition in partitions {
        let Ok(number) = partition.parse::<i32>() else {
            continue;
        };
        let data = zookeeper
            .data(&format!("{base}/{partition}"))
            .await?
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&data);
        let offset = text.trim().parse::<i64>().map_err(|_| {
            ZkError::Other(format!("{base}/{partition} holds {text:?}, not an offset"))
        })?;
        offsets.push((number, offset));
    }
    offsets.sort();
    Ok(offsets)
}

/// The groups that keep offsets in ZooKeeper.
pub async fn groups(zookeeper: &mut ZooKeeper) -> Result<Vec<String>, ZkError> {
    match zookeeper.children("/consumers").await {
        Ok(groups) => Ok(groups),
        Err(ZkError::NoNode(_)) => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}
