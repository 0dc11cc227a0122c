"""Shared by caller.py and responder.py: the JSON the Go tests exchange with
these scripts, and the paho-mqtt calls both make.

Binary fields (bodies, correlation data) travel base64-encoded, as Go's
encoding/json writes []byte, so that non-UTF-8 bytes survive argv and stdout.

Written for paho-mqtt 1.6 (Debian bookworm's python3-paho-mqtt) and 2.x:
2.x requires the callback API version when making a client, and the two
differ in callback arguments, so callbacks take *args and read only the
positions both versions share.
"""

import base64
import json
import os
import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def fail(msg):
    sys.stderr.write("paho: %s\n" % msg)
    sys.stderr.flush()
    os._exit(2)  # also from a paho thread, and without waiting for it


def _thread_crashed(args):
    # paho runs the network loop on its own thread: an exception there (such
    # as paho 1.6 refusing a PUBACK reason code it does not know) would
    # otherwise only stop that thread and leave the script waiting.
    import traceback

    traceback.print_exception(args.exc_type, args.exc_value, args.exc_traceback)
    fail("paho network thread crashed: %r" % (args.exc_value,))


threading.excepthook = _thread_crashed


def config():
    if len(sys.argv) != 2:
        fail("usage: %s CONFIG_JSON" % sys.argv[0])
    cfg = json.loads(sys.argv[1])
    # Bound every run, so a lost message ends the script instead of hanging
    # the Go test until its own deadline.
    timer = threading.Timer(cfg["timeoutMs"] / 1000.0, fail, ["timed out after %d ms" % cfg["timeoutMs"]])
    timer.daemon = True
    timer.start()
    return cfg


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def _reason(rc):
    # An int on 3.1.1 with 1.6, a ReasonCodes/ReasonCode object otherwise.
    return getattr(rc, "value", rc)


class Client:
    """A connected paho client whose subscribe and publish wait for the
    broker's acknowledgement, and whose received messages go to a queue."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.v5 = cfg["version"] == 5
        proto = mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311
        if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
            self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=proto)
        else:
            self.c = mqtt.Client(protocol=proto)
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.messages = []
        self.received = threading.Condition()
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = lambda *args: self.subscribed.set()
        self.c.on_message = self._on_message

        url = cfg["url"]
        if not url.startswith("mqtt://"):
            fail("unsupported URL %s" % url)
        host, port = url[len("mqtt://"):].rsplit(":", 1)
        if self.v5:
            self.c.connect(host, int(port), keepalive=30, clean_start=True)
        else:
            self.c.connect(host, int(port), keepalive=30)
        self.c.loop_start()
        if not self.connected.wait(self._timeout()):
            fail("no CONNACK")

    def _timeout(self):
        return self.cfg["timeoutMs"] / 1000.0

    def _on_connect(self, *args):
        rc = _reason(args[3])
        if rc != 0:
            fail("connection refused: %s" % args[3])
        self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.received:
            self.messages.append(msg)
            self.received.notify_all()

    def subscribe(self, topic):
        self.subscribed.clear()
        rc, _ = self.c.subscribe(topic, qos=1)
        if rc != mqtt.MQTT_ERR_SUCCESS or not self.subscribed.wait(self._timeout()):
            fail("subscribe %s failed" % topic)

    def next_message(self):
        with self.received:
            if not self.received.wait_for(lambda: self.messages, self._timeout()):
                fail("no message")
            return self.messages.pop(0)

    def publish(self, topic, spec, response_topic=""):
        props = None
        if self.v5:
            # Properties are set only when given, so that absent ones stay
            # absent on the wire rather than being sent empty.
            props = Properties(PacketTypes.PUBLISH)
            if response_topic:
                props.ResponseTopic = response_topic
            if spec.get("correlationData") is not None:
                props.CorrelationData = base64.b64decode(spec["correlationData"])
            if spec.get("contentType"):
                props.ContentType = spec["contentType"]
            if spec.get("userProperties"):
                props.UserProperty = list(spec["userProperties"].items())
        info = self.c.publish(topic, body(spec), qos=1, properties=props)
        info.wait_for_publish(self._timeout())
        if not info.is_published():
            fail("publish to %s not acknowledged" % topic)

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def body(spec):
    return base64.b64decode(spec["body"]) if spec.get("body") else b""


def describe(msg):
    """Reports a received message as the Go test reads it."""
    # On MQTT 3.1.1 there are no properties; on 5 only those sent are set.
    p = getattr(msg, "properties", None)
    cd = getattr(p, "CorrelationData", None)
    # A repeated key keeps its last value, as in mqttrpc.
    user = dict(getattr(p, "UserProperty", None) or [])
    return {
        "topic": msg.topic,
        "body": base64.b64encode(msg.payload).decode("ascii"),
        "responseTopic": getattr(p, "ResponseTopic", "") or "",
        "correlationData": base64.b64encode(cd).decode("ascii") if cd is not None else None,
        "contentType": getattr(p, "ContentType", "") or "",
        "userProperties": user,
    }
