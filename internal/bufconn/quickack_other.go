//go:build !linux

package bufconn

import "net"

// QuickAck reports whether a Conn acknowledges what it reads at once: only
// on Linux, which alone has TCP_QUICKACK. See [New] for what that means
// elsewhere.
const QuickAck = false

// quickAcker is Linux only.
type quickAcker struct{}

func newQuickAcker(net.Conn) *quickAcker { return nil }

func (*quickAcker) ack() { panic("unreachable") }
