"""A paho-mqtt client for the interoperability tests, written as an app would.

Takes one JSON argument: host, port, transport ("tcp" or "websockets"), path,
username, password, protocol ("3.1.1" or "5"), subscribe (a topic filter),
publish_topic, publish (payload strings) and expect (messages to receive).
Connects, subscribes at QoS 1, publishes at QoS 1, and prints one JSON line
per event (connack, suback, puback, message, disconnect, done) on stdout.
Works with paho-mqtt 1.x (Debian 12) and 2.x.
"""
import json
import sys
import time

import paho.mqtt.client as mqtt

opts = json.loads(sys.argv[1])
version = mqtt.MQTTv5 if opts.get("protocol") == "5" else mqtt.MQTTv311
kwargs = {"client_id": opts.get("client_id", "paho"), "protocol": version, "transport": opts.get("transport", "tcp")}
if version != mqtt.MQTTv5:
    kwargs["clean_session"] = True
if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION1, **kwargs)
else:
    client = mqtt.Client(**kwargs)
state = {"received": 0, "acked": 0, "closed": False}


def emit(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)


def reason(rc):
    """A return code (int) or an MQTT 5 reason code object, as an int."""
    return rc if isinstance(rc, int) else getattr(rc, "value", rc)


def on_connect(_client, _userdata, _flags, rc, _properties=None):
    emit("connack", rc=reason(rc))
    if reason(rc) == 0:
        client.subscribe(opts["subscribe"], qos=1)


def on_subscribe(_client, _userdata, _mid, granted, _properties=None):
    emit("suback", granted=[reason(g) for g in granted])
    for payload in opts.get("publish", []):
        client.publish(opts["publish_topic"], payload, qos=1)


def on_publish(_client, _userdata, mid):
    state["acked"] += 1
    emit("puback", mid=mid)


def on_message(_client, _userdata, msg):
    state["received"] += 1
    emit("message", topic=msg.topic, qos=msg.qos, payload=msg.payload.decode("utf-8"))


def on_disconnect(_client, _userdata, rc, _properties=None):
    state["closed"] = True
    emit("disconnect", rc=reason(rc))


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_publish = on_publish
client.on_message = on_message
client.on_disconnect = on_disconnect
if opts.get("transport") == "websockets":
    client.ws_set_options(path=opts.get("path", "/mqtt"))
client.username_pw_set(opts["username"], opts["password"])
client.connect(opts["host"], opts["port"], keepalive=30)

deadline = time.time() + opts.get("timeout", 15)
wanted_acks = len(opts.get("publish", []))
while time.time() < deadline and not state["closed"]:
    client.loop(timeout=0.1)
    if state["received"] >= opts.get("expect", 0) and state["acked"] >= wanted_acks and state["acked"] + state["received"] > 0:
        break
if not state["closed"]:
    client.disconnect()
emit("done", received=state["received"], acked=state["acked"])
