package asyncapi

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/mqttrpc/mqttrpc"
)

// protocols maps the URL schemes mqttrpc connects with to AsyncAPI's
// protocol names.
var protocols = map[string]string{
	"mqtt": "mqtt", "tcp": "mqtt",
	"mqtts": "secure-mqtt", "ssl": "secure-mqtt", "tls": "secure-mqtt",
	"ws": "ws", "wss": "wss",
}

// protocolVersion writes v as AsyncAPI's MQTT examples do: "5", "3.1.1".
func protocolVersion(v mqttrpc.Version) string {
	if v == mqttrpc.V5 {
		return "5"
	}
	return v.String()
}

// servers returns the server objects of urls, named broker, broker-2, and
// so on in their order. Only the host and port of a URL are kept: never a
// user name or password.
func servers(urls []string, v mqttrpc.Version) (map[string]Server, error) {
	if len(urls) == 0 {
		return nil, nil
	}
	out := make(map[string]Server, len(urls))
	for i, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("asyncapi: server: %w", err)
		}
		protocol, ok := protocols[u.Scheme]
		if !ok || u.Host == "" {
			return nil, fmt.Errorf("asyncapi: server %q: want mqtt://, mqtts://, ws:// or wss:// and a host", u.Redacted())
		}
		name := "broker"
		if i > 0 {
			name += "-" + strconv.Itoa(i+1)
		}
		out[name] = Server{Host: u.Host, Protocol: protocol, ProtocolVersion: protocolVersion(v)}
	}
	return out, nil
}
