#!/usr/bin/python3
"""
MQTT 5 checks with Eclipse paho-mqtt (Debian's python3-paho-mqtt 1.6.1) against a server on
127.0.0.1, driven by test/integration/mqtt-paho.test.ts.

    /usr/bin/python3 test/helpers/paho-checks.py PORT [CHECK ...]

Prints one JSON line per check: {"check": name, ...what was observed} or
{"check": name, "error": "..."} or {"check": name, "skipped": "reason"}. The script observes;
the test file asserts. Without CHECK arguments every check runs.
"""
import json
import sys
import threading
import time
import uuid

import paho.mqtt
import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

HOST = '127.0.0.1'
PORT = int(sys.argv[1])
RUN = uuid.uuid4().hex[:8]
TIMEOUT = 5.0
paho_version = getattr(paho.mqtt, '__version__', '?')


def props(packet_type, **values):
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


class Client:
    """A paho MQTTv5 client on its network thread, with what it received kept in order."""

    def __init__(self, name, connect_props=None, will=None, clean_start=True):
        self.name = name
        self.cond = threading.Condition()
        self.messages = []
        self.subacks = {}
        self.connack = None
        self.c = mqtt.Client(client_id='paho-%s-%s' % (name, RUN), protocol=mqtt.MQTTv5, reconnect_on_failure=False)
        self.c.on_connect = self._on_connect
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = self._on_message
        if will is not None:
            self.c.will_set(**will)
        self.c.connect(HOST, PORT, keepalive=30, clean_start=clean_start, properties=connect_props)
        self.c.loop_start()
        self.wait(lambda: self.connack is not None, '%s: CONNACK' % name)
        if self.connack['rc'] != 0:
            raise RuntimeError('%s: CONNACK %s' % (name, self.connack['rc']))

    def _notify(self, fn):
        with self.cond:
            fn()
            self.cond.notify_all()

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self._notify(lambda: setattr(self, 'connack', {'rc': int(rc.value if hasattr(rc, 'value') else rc), 'flags': flags}))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        self._notify(lambda: self.subacks.__setitem__(mid, [int(r.value) for r in reason_codes]))

    def _on_message(self, client, userdata, msg):
        p = msg.properties
        m = {
            'topic': msg.topic,  # as on the wire: paho 1.6.1 does not resolve topic aliases
            'payload': msg.payload.decode('utf-8', 'replace'),
            'qos': msg.qos,
            'retain': bool(msg.retain),
            'at': time.monotonic(),
            'alias': getattr(p, 'TopicAlias', None),
            'ids': getattr(p, 'SubscriptionIdentifier', None),
            'response_topic': getattr(p, 'ResponseTopic', None),
            'correlation': getattr(p, 'CorrelationData', None),
            'user_properties': getattr(p, 'UserProperty', None),
            'content_type': getattr(p, 'ContentType', None),
        }
        self.on_message(m)
        self._notify(lambda: self.messages.append(m))

    def on_message(self, m):
        """For subclasses (runs on the network thread)."""

    def wait(self, pred, what, timeout=TIMEOUT):
        with self.cond:
            if not self.cond.wait_for(pred, timeout):
                raise TimeoutError('timed out waiting for ' + what)

    def wait_payload(self, payload, timeout=TIMEOUT):
        self.wait(lambda: any(m['payload'] == payload for m in self.messages), '%s: message %r' % (self.name, payload), timeout)

    def subscribe(self, topic, qos=1, properties=None):
        rc, mid = self.c.subscribe(topic, options=SubscribeOptions(qos=qos), properties=properties)
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise RuntimeError('subscribe %s: %s' % (topic, rc))
        self.wait(lambda: mid in self.subacks, '%s: SUBACK for %s' % (self.name, topic))
        granted = self.subacks[mid]
        if any(code >= 0x80 for code in granted):
            raise RuntimeError('subscribe %s refused: %s' % (topic, granted))

    def publish(self, topic, payload, qos=1, properties=None):
        info = self.c.publish(topic, payload, qos, properties=properties)
        info.wait_for_publish(TIMEOUT)
        if not info.is_published():
            raise TimeoutError('%s: publish to %s not acknowledged' % (self.name, topic))

    def payloads(self):
        with self.cond:
            return [m['payload'] for m in self.messages]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

    def kill(self):
        """The connection drops without DISCONNECT: the network thread stops (up to 1 s: its select
        timeout), then the socket closes. Returns when it closed (time.monotonic())."""
        self.c.loop_stop()
        self.c.socket().close()
        return time.monotonic()


def check_shared_subscription():
    base = 'paho/%s/shared' % RUN
    marker_topic = 'paho/%s/shared-marker' % RUN
    g1, g2, plain, pub = Client('g1'), Client('g2'), Client('plain'), Client('pub')
    try:
        for member in (g1, g2):
            member.subscribe('$share/g/%s/#' % base)
            member.subscribe(marker_topic)  # not shared: the marker reaches both, after the rest
        plain.subscribe(base + '/#')
        sent = ['m%d' % i for i in range(1, 11)]
        for i, payload in enumerate(sent, 1):
            pub.publish('%s/%d' % (base, i), payload)
        pub.publish(marker_topic, 'marker')
        for member in (g1, g2):
            member.wait_payload('marker')
        plain.wait(lambda: len(plain.messages) >= len(sent), 'plain: all messages')
        without_marker = lambda c: [p for p in c.payloads() if p != 'marker']
        return {'sent': sent, 'g1': without_marker(g1), 'g2': without_marker(g2), 'plain': plain.payloads()}
    finally:
        for c in (g1, g2, plain, pub):
            c.close()


def check_subscription_identifiers():
    base = 'paho/%s/sid' % RUN
    c, pub = Client('sid'), Client('sid-pub')
    try:
        c.subscribe(base + '/a', properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=5))
        c.subscribe(base + '/#', properties=props(PacketTypes.SUBSCRIBE, SubscriptionIdentifier=6))
        pub.publish(base + '/a', 'to-a')
        pub.publish(base + '/b', 'to-b')
        c.wait_payload('to-b')
        return {'messages': [{'topic': m['topic'], 'payload': m['payload'], 'ids': m['ids']} for m in c.messages]}
    finally:
        c.close()
        pub.close()


def check_will_delay():
    topic = 'paho/%s/will' % RUN
    watcher = Client('will-watcher')
    try:
        watcher.subscribe(topic)
        device = Client(
            'will-device',
            connect_props=props(PacketTypes.CONNECT, SessionExpiryInterval=10),
            will={'topic': topic, 'payload': 'gone', 'qos': 1, 'retain': False, 'properties': props(PacketTypes.WILLMESSAGE, WillDelayInterval=2)},
        )
        dropped = device.kill()
        watcher.wait(lambda: len(watcher.messages) >= 1, 'the will', timeout=8)
        m = watcher.messages[0]
        return {'payload': m['payload'], 'elapsed_s': round(m['at'] - dropped, 3)}
    finally:
        watcher.close()


class Responder(Client):
    """Answers every request on its Response Topic, with its Correlation Data."""

    def __init__(self, name):
        self.requests = []
        super().__init__(name)

    def on_message(self, m):
        self.requests.append(m)
        if m['response_topic'] is None:
            return
        answer = props(PacketTypes.PUBLISH)
        if m['correlation'] is not None:
            answer.CorrelationData = m['correlation']
        self.c.publish(m['response_topic'], 'answer:' + m['payload'], 1, properties=answer)


def check_request_response():
    base = 'paho/%s/rr' % RUN
    responder, requester = Responder('responder'), Client('requester')
    try:
        responder.subscribe(base + '/request')
        requester.subscribe(base + '/response')
        request = props(
            PacketTypes.PUBLISH,
            ResponseTopic=base + '/response',
            CorrelationData=b'\x00corr-7\xff',
            ContentType='text/plain',
            PayloadFormatIndicator=1,
        )
        request.UserProperty = ('k', 'v1')
        request.UserProperty = ('k', 'v2')
        request.UserProperty = ('x', 'y')
        requester.publish(base + '/request', 'question', properties=request)
        requester.wait_payload('answer:question')
        seen = responder.requests[0]
        reply = requester.messages[0]
        return {
            'request': {
                'payload': seen['payload'],
                'response_topic': seen['response_topic'],
                'correlation': seen['correlation'].hex() if seen['correlation'] is not None else None,
                'content_type': seen['content_type'],
                'user_properties': seen['user_properties'],
            },
            'reply': {'payload': reply['payload'], 'correlation': reply['correlation'].hex() if reply['correlation'] is not None else None},
        }
    finally:
        responder.close()
        requester.close()


def check_user_property_order():
    topic = 'paho/%s/order' % RUN
    c, pub = Client('order'), Client('order-pub')
    try:
        c.subscribe(topic)
        p = props(PacketTypes.PUBLISH)
        sent = [('a', '1'), ('b', '2'), ('a', '3'), ('c', '4'), ('b', '5')]
        for pair in sent:
            p.UserProperty = pair
        pub.publish(topic, 'ordered', properties=p)
        c.wait_payload('ordered')
        return {'sent': sent, 'received': c.messages[0]['user_properties']}
    finally:
        c.close()
        pub.close()


def check_topic_aliases():
    base = 'paho/%s/alias' % RUN
    c = Client('alias', connect_props=props(PacketTypes.CONNECT, TopicAliasMaximum=1))
    pub = Client('alias-pub')
    try:
        c.subscribe(base + '/#')
        sent = [(base + '/a', 'a1'), (base + '/a', 'a2'), (base + '/b', 'b1'), (base + '/a', 'a3'), (base + '/b', 'b2')]
        for topic, payload in sent:
            pub.publish(topic, payload)
        c.wait_payload('b2')
        # resolve as a client must: a topic with an alias sets it, an empty topic uses it
        aliases, resolved = {}, []
        for m in c.messages:
            if m['alias'] is not None and m['topic'] != '':
                aliases[m['alias']] = m['topic']
            resolved.append(m['topic'] if m['topic'] != '' else aliases.get(m['alias']))
        return {
            'sent': [list(s) for s in sent],
            'wire': [{'topic': m['topic'], 'alias': m['alias'], 'payload': m['payload']} for m in c.messages],
            'resolved': resolved,
        }
    finally:
        c.close()
        pub.close()


def check_flow_control():
    if not hasattr(mqtt.Client, 'ack'):
        return {'skipped': 'paho-mqtt %s acknowledges every message itself as soon as on_message returns '
                           '(manual acknowledgement, Client(manual_ack=True) and Client.ack(), came with paho-mqtt 2.0): '
                           'a client Receive Maximum window cannot be held full from it' % paho_version}
    return {'skipped': 'paho-mqtt %s has manual acknowledgement; this check is written for 1.6.1 only' % paho_version}


CHECKS = {
    'shared_subscription': check_shared_subscription,
    'subscription_identifiers': check_subscription_identifiers,
    'will_delay': check_will_delay,
    'request_response': check_request_response,
    'user_property_order': check_user_property_order,
    'topic_aliases': check_topic_aliases,
    'flow_control': check_flow_control,
}


def main():
    names = sys.argv[2:] or list(CHECKS)
    for name in names:
        try:
            result = CHECKS[name]()
        except Exception as e:  # reported, and the next check runs
            result = {'error': '%s: %s' % (type(e).__name__, e)}
        print(json.dumps({'check': name, **result}), flush=True)


if __name__ == '__main__':
    main()
