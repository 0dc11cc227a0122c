package pahostate

import "github.com/eclipse/paho.mqtt.golang/packets"

// DiscardStore is a paho.mqtt.golang store that keeps nothing, for clean
// sessions. paho puts every QoS 1 and 2 packet it sends or receives in its
// store and deletes it once acknowledged, but reads the store only to
// resume a session the broker kept: a clean Connect resets it instead. The
// MQTT 5 side spares paho.golang its store the same way (noStore).
type DiscardStore struct{}

func (DiscardStore) Open() {}

func (DiscardStore) Put(string, packets.ControlPacket) {}

func (DiscardStore) Get(string) packets.ControlPacket { return nil }

func (DiscardStore) All() []string { return nil }

func (DiscardStore) Del(string) {}

func (DiscardStore) Close() {}

func (DiscardStore) Reset() {}
