package mqttrpc

import "github.com/mqttrpc/mqttrpc/internal/bufconn"

// ConnOf returns the Broker's current network connection, or nil.
func ConnOf(b *Broker) *bufconn.Conn {
	switch t := b.t.(type) {
	case *v5:
		return t.conn.Load()
	case *v311:
		return t.conn.Load()
	}
	return nil
}
