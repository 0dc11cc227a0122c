package mqttrpc

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
)

// FuzzDecode feeds arbitrary payloads to the decoder behind Message.Decode
// and Typed: it must never panic, and text and bytes must come back exact.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"X":1,"Y":2}`))
	f.Add([]byte(`"quoted"`))
	f.Add([]byte{0xff, 0x00, 0xfe})
	f.Fuzz(func(t *testing.T, payload []byte) {
		var s string
		if err := decode(payload, &s); err != nil || s != string(payload) {
			t.Fatalf("string: %q, %v", s, err)
		}
		var b []byte
		if err := decode(payload, &b); err != nil || !bytes.Equal(b, payload) {
			t.Fatalf("bytes: %q, %v", b, err)
		}
		var v struct{ X, Y int }
		_ = decode(payload, &v)
		var m map[string]any
		_ = decode(payload, &m)
	})
}

// FuzzReplyError feeds arbitrary status user properties to the caller's
// reading of an error reply: only a 2xx status or none is success.
func FuzzReplyError(f *testing.F) {
	f.Add("500", "boom")
	f.Add("200", "")
	f.Add("-1", "\x00")
	f.Add("99999999999999999999", "x")
	f.Fuzz(func(t *testing.T, stat, msg string) {
		err := replyError(&Message{Headers: map[string]string{headerStatus: stat, headerStatusMessage: msg}})
		code, convErr := strconv.Atoi(stat)
		success := convErr == nil && code >= 200 && code < 300
		if success != (err == nil) {
			t.Fatalf("__stat %q gave %v", stat, err)
		}
		if re, ok := err.(*RemoteError); ok && re.Message != msg {
			t.Fatalf("__stMsg %q became %q", msg, re.Message)
		}
	})
}

// FuzzReceivedV5 sends arbitrary properties through paho's wire encoding and
// the MQTT 5 adapter: what arrives must be what was sent, byte for byte.
func FuzzReceivedV5(f *testing.F) {
	f.Add("rpc/echo", []byte("body"), []byte("corr"), "reply/topic", "text/plain", "k\x00v\x00k\x00last")
	f.Add("a", []byte{}, []byte{0x00, 0xff}, "", "", "")
	f.Fuzz(func(t *testing.T, topicName string, payload, corr []byte, replyTo, contentType, userProps string) {
		p := &paho.Publish{Topic: topicName, QoS: 1, PacketID: 1, Payload: payload, Properties: &paho.PublishProperties{
			CorrelationData: corr, ResponseTopic: replyTo, ContentType: contentType,
		}}
		want := map[string]string{}
		pairs := strings.Split(userProps, "\x00")
		for i := 0; i+1 < len(pairs); i += 2 {
			p.Properties.User = append(p.Properties.User, paho.UserProperty{Key: pairs[i], Value: pairs[i+1]})
			want[pairs[i]] = pairs[i+1] // a repeated key keeps its last value
		}
		var wire bytes.Buffer
		if _, err := p.Packet().WriteTo(&wire); err != nil {
			return // paho refuses to encode it; nothing reaches us
		}
		cp, err := packets.ReadPacket(&wire)
		if err != nil {
			return
		}
		var got *Message
		t5 := &v5{ev: events{message: func(m *Message) { got = m }}}
		_, _ = t5.received(paho.PublishReceived{Packet: paho.PublishFromPacketPublish(cp.Content.(*packets.Publish))})
		if got == nil {
			t.Fatal("no message delivered")
		}
		if got.Topic != topicName || !bytes.Equal(got.Body, payload) || got.CorrelationID != string(corr) ||
			got.ReplyTo != replyTo || got.ContentType != contentType {
			t.Fatalf("sent %q %q %q %q %q, got %+v", topicName, payload, corr, replyTo, contentType, got)
		}
		if len(want) != len(got.Headers) {
			t.Fatalf("headers: want %q, got %q", want, got.Headers)
		}
		for k, v := range want {
			if got.Headers[k] != v {
				t.Fatalf("header %q: want %q, got %q", k, v, got.Headers[k])
			}
		}
	})
}
