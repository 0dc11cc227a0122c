package pahostate

import (
	"bytes"
	"context"
	"testing"

	"github.com/eclipse/paho.golang/packets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSessionForgetsAcknowledgedPublishes runs paho's session state, as a
// Broker that keeps no session has it, through QoS 1 and 2 publishes: each is
// forgotten once its last acknowledgement has come, and one still waiting
// ends when the connection is lost.
func TestSessionForgetsAcknowledgedPublishes(t *testing.T) {
	t.Parallel()
	s := NewSession(false).(*lossReportingSession)
	var wire bytes.Buffer // where paho's state writes PUBRELs
	require.NoError(t, s.ConAckReceived(&wire, &packets.Connect{CleanStart: true}, &packets.Connack{}))

	publish := func(qos byte) (uint16, chan packets.ControlPacket) {
		resp := make(chan packets.ControlPacket, 1)
		pub := &packets.Publish{Topic: "t", QoS: qos}
		require.NoError(t, s.AddToSession(context.Background(), pub, resp))
		return pub.PacketID, resp
	}
	receive := func(content packets.Packet) {
		require.NoError(t, s.PacketReceived(&packets.ControlPacket{Content: content}, nil))
	}

	id1, resp1 := publish(1)
	id2, resp2 := publish(2)
	id3, resp3 := publish(2)
	idLost, respLost := publish(1)
	require.Equal(t, 4, s.inflightLen())

	receive(&packets.Puback{PacketID: id1})
	assert.IsType(t, &packets.Puback{}, (<-resp1).Content)
	receive(&packets.Pubrec{PacketID: id2})
	assert.Equal(t, 3, s.inflightLen(), "a QoS 2 publish waits for its PUBCOMP")
	receive(&packets.Pubcomp{PacketID: id2})
	assert.IsType(t, &packets.Pubcomp{}, (<-resp2).Content)
	receive(&packets.Pubrec{PacketID: id3, ReasonCode: 0x87})
	assert.IsType(t, &packets.Pubrec{}, (<-resp3).Content, "a refusing PUBREC ends the publish")
	assert.Equal(t, 1, s.inflightLen(), "only the unanswered publish %d is kept", idLost)

	require.NoError(t, s.ConnectionLost(nil))
	assert.Nil(t, (<-respLost).Content, "the lost publish ends with paho's shutdown packet")
	assert.Zero(t, s.inflightLen())
}

func (s *lossReportingSession) inflightLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inflight)
}
