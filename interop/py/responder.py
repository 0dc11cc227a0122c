"""responder.py answers one request with paho-mqtt.

It prints {"event": "ready"} once subscribed, so the Go test knows when to
send its request, then the request as received, then replies: to the
request's Response Topic on MQTT 5, or to cfg["replyTopic"] on MQTT 3.1.1.
cfg["echoCorrelation"] chooses whether the reply copies the request's
Correlation Data, so that a responder which does not can be tested too.
"""

import os

from common import Client, config, describe, emit, fail

cfg = config()
client = Client(cfg)
client.subscribe(cfg["topic"])
emit({"event": "ready"})
req = describe(client.next_message())
emit({"event": "request", "message": req})

to = req["responseTopic"] if client.v5 else cfg["replyTopic"]
if not to:
    fail("request has no Response Topic")
spec = dict(cfg["reply"])
if cfg["echoCorrelation"]:
    spec["correlationData"] = req["correlationData"]
client.publish(to, spec)
client.close()
os._exit(0)  # the timeout timer must not keep the process alive
