//go:build !linux

package bufconn

import (
	"net"
	"time"
)

// QuickAck reports whether a Conn acknowledges what it reads at once: only
// on Linux, which alone has TCP_QUICKACK. See [New] for what that means
// elsewhere.
const QuickAck = false

// quickAcker is Linux only.
type quickAcker struct{}

func newQuickAcker(net.Conn) *quickAcker { return nil }

func (*quickAcker) ack() { panic("unreachable") }

func (*quickAcker) rtt() time.Duration { panic("unreachable") }
