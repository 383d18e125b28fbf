//! A DNS server on loopback that answers TXT questions from a table, speaking the real
//! wire protocol (messages encoded and decoded with hickory-proto), so Herald's resolver
//! is tested as it asks a real name server: long records split into 255-byte strings as
//! publishers store them, and NXDOMAIN for a name with no record.

use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::{RData, Record, RecordType};

type Table = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// A running stand-in name server.
pub struct FakeDns {
    pub addr: SocketAddr,
    records: Table,
}

fn answer(query: &Message, records: &Table) -> Option<Vec<u8>> {
    let question = query.queries().first()?.clone();
    let name = question
        .name()
        .to_ascii()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let found = records.lock().unwrap().get(&name).cloned();
    let mut reply = Message::new();
    reply
        .set_id(query.id())
        .set_message_type(MessageType::Response)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(true)
        .set_recursion_available(true)
        .set_authoritative(true)
        .add_query(question.clone());
    match found {
        Some(values) if question.query_type() == RecordType::TXT => {
            for value in values {
                let parts: Vec<String> = value
                    .as_bytes()
                    .chunks(255)
                    .map(|c| String::from_utf8_lossy(c).into_owned())
                    .collect();
                let rdata = RData::TXT(TXT::new(parts));
                reply.add_answer(Record::from_rdata(question.name().clone(), 60, rdata));
            }
        }
        Some(_) => {}
        None => {
            reply.set_response_code(ResponseCode::NXDomain);
        }
    }
    reply.to_vec().ok()
}

impl FakeDns {
    /// Starts answering on a free UDP port.
    pub fn start() -> FakeDns {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let records: Table = Arc::default();
        let table = records.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                if let Some(bytes) = answer(&query, &table) {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        FakeDns { addr, records }
    }

    /// Publishes `values` as the TXT records of `name`.
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        self.records.lock().unwrap().insert(
            name.trim_end_matches('.').to_ascii_lowercase(),
            values.iter().map(|v| v.to_string()).collect(),
        );
    }
}
