"""Confluent's Python client (confluent-kafka, with fastavro) against the real Wharf broker.

Its SchemaRegistryClient registers JSON Schema and Avro schemas under `<topic>-value`, reads them
back, tests and sets compatibility; records written by its AvroSerializer / JSONSerializer
(Confluent's wire format) are produced through Wharf's HTTP API (base64 values) into topics with
`schema_validation = "registry"`, fetched, compared byte for byte, and decoded by its
deserialisers. A record with an id of another subject is refused (`schema_violation`).

    python infra/local/schema_registry_check.py http://127.0.0.1:8080

Exits 0 and prints `schema registry check: N passed, 0 failed` when every check held; an
assertion error names the first that did not.
"""

import base64
import json
import sys
import urllib.error
import urllib.request

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

ORDER_AVRO = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [{"name": "id", "type": "long"}, {"name": "sku", "type": "string"}],
})
ORDER_AVRO_V2 = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [{"name": "id", "type": "long"}, {"name": "sku", "type": "string"},
               {"name": "qty", "type": "int", "default": 1}],
})
ORDER_AVRO_BREAKING = json.dumps({
    "type": "record", "name": "Order", "namespace": "shop",
    "fields": [{"name": "id", "type": "string"}, {"name": "sku", "type": "string"}],
})
ORDER_JSON = json.dumps({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "Order", "type": "object",
    "properties": {"id": {"type": "integer"}, "sku": {"type": "string"}},
    "required": ["id"],
})

checks = 0


def check(condition, what):
    global checks
    assert condition, what
    checks += 1


def http(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def produce_and_fetch(base, topic, values):
    records = [{"value_b64": base64.b64encode(v).decode()} for v in values]
    status, body = http(base, "POST", f"/v1/topics/{topic}/records", {"records": records})
    check(status == 200, f"produce to {topic}: {status} {body}")
    status, body = http(base, "GET", f"/v1/topics/{topic}/partitions/0/records?offset=0")
    check(status == 200, f"fetch {topic}: {status} {body}")
    return body["records"]


def main(base):
    for topic in ("schemacheck.avro", "schemacheck.json"):
        status, body = http(base, "POST", "/v1/topics",
                            {"name": topic, "partitions": 1, "schema_validation": "registry"})
        check(status == 201, f"create {topic}: {status} {body}")

    client = SchemaRegistryClient({"url": base + "/schemas"})

    # Registry round trips.
    avro_subject = "schemacheck.avro-value"
    avro_id = client.register_schema(avro_subject, Schema(ORDER_AVRO, "AVRO"))
    check(json.loads(client.get_schema(avro_id).schema_str) == json.loads(ORDER_AVRO),
          "avro schema read back by id")
    latest = client.get_latest_version(avro_subject)
    check((latest.schema_id, latest.version) == (avro_id, 1), f"latest version {latest}")
    json_subject = "schemacheck.json-value"
    json_id = client.register_schema(json_subject, Schema(ORDER_JSON, "JSON"))
    check(client.get_schema(json_id).schema_type == "JSON", "json schema type read back")
    check(json_subject in client.get_subjects(), "subjects list the json subject")
    check(client.get_versions(avro_subject) == [1], "versions of the avro subject")

    # Compatibility: test, set, read back, register an evolution.
    check(client.test_compatibility(avro_subject, Schema(ORDER_AVRO_V2, "AVRO")) is True,
          "adding a field with a default is backward compatible")
    check(client.test_compatibility(avro_subject, Schema(ORDER_AVRO_BREAKING, "AVRO")) is False,
          "changing a field's type is not")
    check(client.set_compatibility(avro_subject, "FULL")["compatibility"] == "FULL", "set FULL")
    check(client.get_compatibility(avro_subject) == "FULL", "read FULL back")
    v2_id = client.register_schema(avro_subject, Schema(ORDER_AVRO_V2, "AVRO"))
    found = client.lookup_schema(avro_subject, Schema(ORDER_AVRO_V2, "AVRO"))
    check((found.schema_id, found.version) == (v2_id, 2), f"v2 registered under FULL: {found}")
    check(client.get_versions(avro_subject) == [1, 2], "both versions listed")

    # Avro through Wharf, byte-equal, decoded by the deserialiser.
    ctx = SerializationContext("schemacheck.avro", MessageField.VALUE)
    serializer = AvroSerializer(client, ORDER_AVRO_V2)
    orders = [{"id": 42, "sku": "A-1", "qty": 3}, {"id": 43, "sku": "B-2", "qty": 1}]
    sent = [serializer(o, ctx) for o in orders]
    check(all(v[0] == 0 and int.from_bytes(v[1:5], "big") == v2_id for v in sent),
          "the serializer wrote the wire format with v2's id")
    fetched = produce_and_fetch(base, "schemacheck.avro", sent)
    got = [base64.b64decode(r["value_b64"]) for r in fetched]
    check(got == sent, "avro values fetched byte-equal")
    check(all(r["headers"]["wharf-schema-id"] == str(v2_id) for r in fetched),
          "records carry wharf-schema-id")
    deserializer = AvroDeserializer(client)
    check([deserializer(v, ctx) for v in got] == orders, "avro values decode to what was sent")

    # JSON Schema through Wharf.
    jctx = SerializationContext("schemacheck.json", MessageField.VALUE)
    jserializer = JSONSerializer(ORDER_JSON, client)
    docs = [{"id": 1, "sku": "C-3"}, {"id": 2}]
    jsent = [jserializer(d, jctx) for d in docs]
    jfetched = produce_and_fetch(base, "schemacheck.json", jsent)
    jgot = [base64.b64decode(r["value_b64"]) for r in jfetched]
    check(jgot == jsent, "json values fetched byte-equal")
    jdeserializer = JSONDeserializer(ORDER_JSON, schema_registry_client=client)
    check([jdeserializer(v, jctx) for v in jgot] == docs, "json values decode to what was sent")

    # A value written with another subject's schema id is refused alone.
    status, body = http(base, "POST", "/v1/topics/schemacheck.avro/records", {"records": [
        {"value_b64": base64.b64encode(sent[0]).decode()},
        {"value_b64": base64.b64encode(jsent[0]).decode()},
    ]})
    check(status == 207, f"mixed batch: {status} {body}")
    error = body["results"][1]["error"]
    check(error["code"] == "schema_violation" and error["details"]["schema_id"] == json_id,
          f"wrong-id record refused: {error}")

    print(f"schema registry check: {checks} passed, 0 failed")


if __name__ == "__main__":
    main(sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:8080")
