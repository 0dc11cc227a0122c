"""caller.py sends one request with paho-mqtt and prints the reply.

On MQTT 5 the request carries cfg["replyTopic"] as its Response Topic; on
MQTT 3.1.1, which has no properties, the reply is expected on
cfg["replyTopic"] because the mqttrpc handler is configured to reply there.
Either way the script subscribes before publishing, so the reply cannot
arrive before anyone listens.
"""

import os

from common import Client, config, describe, emit

cfg = config()
client = Client(cfg)
client.subscribe(cfg["replyTopic"])
client.publish(cfg["topic"], cfg["msg"], cfg["replyTopic"] if client.v5 else "")
emit({"event": "reply", "message": describe(client.next_message())})
client.close()
os._exit(0)  # the timeout timer must not keep the process alive
