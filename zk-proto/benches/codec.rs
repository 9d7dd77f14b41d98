//! Jute encode/decode of the requests and replies a loaded server handles most: getData,
//! setData and create with 100-byte values, and the getData reply (data + stat).
//!
//! `cargo bench -p zk-proto --bench codec`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use zk_proto::codec::{Decode, Encode, Reader};
use zk_proto::data::{Acl, Stat};
use zk_proto::proto::{
    CreateRequest, GetDataRequest, GetDataResponse, ReplyHeader, SetDataRequest,
};
use zk_proto::request::{decode_request, encode_request, Request};
use zk_proto::{frame, CreateMode, OpCode, DEFAULT_MAX_BUFFER};

fn requests() -> Vec<(&'static str, Request)> {
    let value = vec![b'v'; 100];
    vec![
        (
            "get_data",
            Request::GetData(GetDataRequest {
                path: "/bench/c17/key-000042".into(),
                watch: false,
            }),
        ),
        (
            "set_data",
            Request::SetData(SetDataRequest {
                path: "/bench/c17/key-000042".into(),
                data: Some(value.clone()),
                version: -1,
            }),
        ),
        (
            "create",
            Request::Create {
                op: OpCode::Create,
                req: CreateRequest {
                    path: "/bench/c17/n-0000000042".into(),
                    data: Some(value),
                    acl: Acl::open_unsafe(),
                    flags: CreateMode::Persistent as i32,
                },
            },
        ),
    ]
}

fn stat() -> Stat {
    Stat {
        czxid: 0x1_0000_0042,
        mzxid: 0x1_0000_0099,
        ctime: 1_763_000_000_000,
        mtime: 1_763_000_000_500,
        version: 7,
        cversion: 0,
        aversion: 0,
        ephemeral_owner: 0,
        data_length: 100,
        num_children: 0,
        pzxid: 0x1_0000_0042,
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("jute");
    g.throughput(Throughput::Elements(1));
    for (name, req) in requests() {
        let mut framed = Vec::new();
        let at = frame::begin(&mut framed);
        encode_request(42, &req, &mut framed);
        frame::finish(&mut framed, at);
        let payload = framed[4..].to_vec();

        g.bench_function(format!("encode_request_{name}"), |b| {
            let mut out = Vec::with_capacity(256);
            b.iter(|| {
                out.clear();
                encode_request(42, black_box(&req), &mut out);
                black_box(&out);
            });
        });
        g.bench_function(format!("decode_request_{name}"), |b| {
            b.iter(|| {
                let (_, r) = decode_request(black_box(&payload), DEFAULT_MAX_BUFFER).unwrap();
                black_box(r);
            });
        });
        g.bench_function(format!("frame_check_{name}"), |b| {
            b.iter(|| black_box(frame::check(black_box(&framed), DEFAULT_MAX_BUFFER)));
        });
    }

    // The getData reply: header + data + stat, framed, as the server writes it.
    let resp = GetDataResponse {
        data: Some(vec![b'v'; 100]),
        stat: stat(),
    };
    let header = ReplyHeader {
        xid: 42,
        zxid: 0x1_0000_0099,
        err: 0,
    };
    g.bench_function("encode_reply_get_data", |b| {
        let mut out = Vec::with_capacity(256);
        b.iter(|| {
            out.clear();
            let at = frame::begin(&mut out);
            header.encode(&mut out);
            black_box(&resp).encode(&mut out);
            frame::finish(&mut out, at);
            black_box(&out);
        });
    });
    let mut body = Vec::new();
    header.encode(&mut body);
    resp.encode(&mut body);
    g.bench_function("decode_reply_get_data", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(&body));
            let h = ReplyHeader::decode(&mut r).unwrap();
            let d = GetDataResponse::decode(&mut r).unwrap();
            black_box((h, d));
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
