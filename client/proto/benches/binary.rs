//! Wire codecs: a 1,000-record batch of 100-byte values, encoded and decoded as a JSON produce
//! request (`value_b64`, base64 included, as the client and broker do it) and as a binary
//! produce request; likewise a fetch answer, and the binary produce answer (1,000 results: the
//! broker encodes one per request, the client decodes it). Reports records/s.
//!
//! `cargo bench -p wharf-proto --bench binary -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use wharf_proto::api;
use wharf_proto::binary;

const RECORDS: usize = 1_000;
const VALUE_BYTES: usize = 100;

fn values() -> Vec<Bytes> {
    (0..RECORDS)
        .map(|i| Bytes::from(vec![b'a' + (i % 26) as u8; VALUE_BYTES]))
        .collect()
}

fn json_produce(values: &[Bytes]) -> Vec<u8> {
    let records: Vec<api::ProduceRecord> = values
        .iter()
        .map(|v| api::ProduceRecord {
            value_b64: Some(B64.encode(v)),
            ..api::ProduceRecord::default()
        })
        .collect();
    serde_json::to_vec(&api::ProduceRequest { records }).unwrap()
}

fn binary_produce(values: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(binary::estimated_len(RECORDS, RECORDS * VALUE_BYTES));
    binary::write_produce_header(&mut out, values.len());
    for v in values {
        binary::write_produce_record(
            &mut out,
            binary::ProduceRecordRef {
                key: None,
                value: v,
                value_is_json: false,
                partition: None,
                timestamp_ms: None,
                headers: std::iter::empty(),
            },
        );
    }
    out
}

fn fetch_answer(values: &[Bytes]) -> binary::FetchResponse {
    binary::FetchResponse {
        records: values
            .iter()
            .enumerate()
            .map(|(i, v)| binary::FetchedRecord {
                offset: i as u64,
                timestamp_ms: 1_732_240_000_000 + i as i64,
                value: v.clone(),
                ..binary::FetchedRecord::default()
            })
            .collect(),
        next_offset: RECORDS as u64,
        high_watermark: RECORDS as u64,
        log_start_offset: 0,
    }
}

fn json_fetch(answer: &binary::FetchResponse) -> Vec<u8> {
    let records = answer
        .records
        .iter()
        .map(|r| api::FetchedRecord {
            offset: r.offset,
            timestamp: r.timestamp_ms,
            key: None,
            key_b64: None,
            value: None,
            value_b64: Some(B64.encode(&r.value)),
            value_url: None,
            headers: Default::default(),
        })
        .collect();
    serde_json::to_vec(&api::FetchResponse {
        records,
        next_offset: answer.next_offset,
        high_watermark: answer.high_watermark,
        log_start_offset: answer.log_start_offset,
    })
    .unwrap()
}

fn produce(c: &mut Criterion) {
    let values = values();
    let mut g = c.benchmark_group("produce_request_1000x100B");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("json/encode", |b| {
        b.iter(|| json_produce(black_box(&values)))
    });
    g.bench_function("binary/encode", |b| {
        b.iter(|| binary_produce(black_box(&values)))
    });
    let json = json_produce(&values);
    g.bench_function("json/decode", |b| {
        b.iter(|| {
            let req: api::ProduceRequest = serde_json::from_slice(black_box(&json)).unwrap();
            req.records
                .into_iter()
                .map(|r| B64.decode(r.value_b64.unwrap()).unwrap().len())
                .sum::<usize>()
        })
    });
    let bin = Bytes::from(binary_produce(&values));
    g.bench_function("binary/decode", |b| {
        b.iter(|| binary::decode_produce_request(black_box(&bin)).unwrap())
    });
    g.finish();
    println!(
        "produce request body: json {} bytes, binary {} bytes",
        json.len(),
        bin.len()
    );
}

fn fetch(c: &mut Criterion) {
    let answer = fetch_answer(&values());
    let mut g = c.benchmark_group("fetch_response_1000x100B");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("json/encode", |b| b.iter(|| json_fetch(black_box(&answer))));
    g.bench_function("binary/encode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(binary::estimated_len(RECORDS, RECORDS * VALUE_BYTES));
            binary::encode_fetch_response(&mut out, black_box(&answer));
            out
        })
    });
    let json = json_fetch(&answer);
    g.bench_function("json/decode", |b| {
        b.iter(|| {
            let a: api::FetchResponse = serde_json::from_slice(black_box(&json)).unwrap();
            a.records
                .into_iter()
                .map(|r| B64.decode(r.value_b64.unwrap()).unwrap().len())
                .sum::<usize>()
        })
    });
    let mut bin = Vec::new();
    binary::encode_fetch_response(&mut bin, &answer);
    let bin = Bytes::from(bin);
    g.bench_function("binary/decode", |b| {
        b.iter(|| binary::decode_fetch_response(black_box(&bin)).unwrap())
    });
    g.finish();
    println!(
        "fetch answer body: json {} bytes, binary {} bytes",
        json.len(),
        bin.len()
    );
}

fn produce_answer(c: &mut Criterion) {
    let now_ms = 1_795_000_000_000_i64;
    let results: Vec<api::ProduceResult> = (0..RECORDS as u64)
        .map(|i| api::ProduceResult {
            partition: Some(3),
            offset: Some(1_000_000 + i),
            timestamp: Some(now_ms),
            error: None,
        })
        .collect();
    let mut g = c.benchmark_group("produce_answer_1000");
    g.throughput(Throughput::Elements(RECORDS as u64));
    g.bench_function("binary/encode", |b| {
        b.iter(|| {
            let mut out = Vec::with_capacity(binary::estimated_len(RECORDS, 0));
            binary::encode_produce_response(&mut out, black_box(&results));
            out
        })
    });
    let mut bin = Vec::new();
    binary::encode_produce_response(&mut bin, &results);
    let bin = Bytes::from(bin);
    g.bench_function("binary/decode", |b| {
        b.iter(|| binary::decode_produce_response(black_box(&bin)).unwrap())
    });
    // The same answer as one run (what the client asks for).
    g.bench_function("runs/encode", |b| {
        b.iter(|| {
            let mut out = Vec::new();
            binary::encode_produce_result_runs(&mut out, black_box(&results));
            out
        })
    });
    let mut runs = Vec::new();
    binary::encode_produce_result_runs(&mut runs, &results);
    let runs = Bytes::from(runs);
    g.bench_function("runs/decode", |b| {
        b.iter(|| binary::decode_produce_answer(black_box(&runs), RECORDS).unwrap())
    });
    g.finish();
}

criterion_group!(benches, produce, fetch, produce_answer);
criterion_main!(benches);
