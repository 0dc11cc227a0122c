"""stream_caller.py calls an mqttrpc streaming handler with paho-mqtt, on the
wire of Azure IoT Operations' RPC streaming design, written from that design
and not from mqttrpc's code:

  request      -> topic, __stream d:0, Response Topic, Correlation Data
  request end  -> topic, __stream c:1:last, same Response Topic and CD
  responses    <- Response Topic, same CD, __stream d:<i> (in any order)
  end          <- c:<n>:last, or s:0 with __stat/__stMsg
  cancel       -> topic, __stream s:0, __stat 499, same Response Topic and CD

It prints one event per message received ("message", in arrival order), and
at the end ("end") the data bodies put in index order. With cfg["cancelAfter"]
> 0 it sends the cancel once that many data responses have come, and waits for
the executor's final status.
"""

import base64
import os

from common import Client, config, describe, emit, fail

cfg = config()
client = Client(cfg)
cd = base64.b64decode(cfg["msg"]["correlationData"])
client.subscribe(cfg["replyTopic"])


def send(kind, extra=None, body_spec=None):
    spec = dict(body_spec or {"body": ""})
    spec["correlationData"] = cfg["msg"]["correlationData"]
    props = {"__stream": kind}
    props.update(extra or {})
    props.update(spec.get("userProperties") or {})
    spec["userProperties"] = props
    client.publish(cfg["topic"], spec, cfg["replyTopic"])


send("d:0", body_spec=cfg["msg"])
send("c:1:last")

data = {}  # index -> body
cancel_after = cfg.get("cancelAfter", 0)
cancelled = False
while True:
    msg = client.next_message()
    m = describe(msg)
    emit({"event": "message", "message": m})
    if base64.b64decode(m["correlationData"] or "") != cd:
        continue  # not this call's
    tag = m["userProperties"].get("__stream", "")
    kind, _, rest = tag.partition(":")
    index = int(rest.split(":")[0]) if rest else -1
    if kind == "d":
        if index in data:
            fail("response %d came twice" % index)
        data[index] = m["body"]
        if cancel_after and not cancelled and len(data) >= cancel_after:
            send("s:0", {"__stat": "499", "__stMsg": "stopped by paho"})
            cancelled = True
    elif kind == "c":
        if sorted(data) != list(range(index)):
            fail("end after %d responses, got indices %s" % (index, sorted(data)))
        break
    elif kind == "s":
        break
emit({"event": "end", "bodies": [data[i] for i in sorted(data)]})
client.close()
os._exit(0)
