package mqttrpc

import (
	"strings"

	"github.com/mqttrpc/mqttrpc/internal/topic"
)

// sharedPattern prefixes pattern with group's "$share/<group>/".
func sharedPattern(pattern, group string) (string, error) {
	switch {
	case group == "" || strings.ContainsAny(group, "/+#"):
		return "", fail(ErrInvalidTopic, "shared subscription group %q must be non-empty, without '/', '+' or '#'", group)
	case topic.IsShared(pattern):
		return "", fail(ErrInvalidTopic, "pattern %q is already shared; drop mqttrpc.Shared(%q) or the prefix", pattern, group)
	}
	return "$share/" + group + "/" + pattern, nil
}

// sharedGroup returns the group of a shared filter, "" for another.
func sharedGroup(filter string) string {
	if !topic.IsShared(filter) {
		return ""
	}
	group, _, _ := strings.Cut(strings.TrimPrefix(filter, "$share/"), "/")
	return group
}

// SUBACK reason codes (MQTT 5) for features the broker lacks.
const (
	reasonSharedNotSupported   = 0x9E
	reasonSubIDsNotSupported   = 0xA1
	reasonWildcardNotSupported = 0xA2
)

// featureRefusal says which feature a SUBACK reason code refuses, if any.
func featureRefusal(code byte) string {
	switch code {
	case reasonSharedNotSupported:
		return "shared subscriptions"
	case reasonSubIDsNotSupported:
		return "subscription identifiers"
	case reasonWildcardNotSupported:
		return "wildcard subscriptions"
	}
	return ""
}

// serverFeatures is what a broker's CONNACK offers (MQTT 5; all of it on
// MQTT 3.1.1, which cannot say).
type serverFeatures struct {
	shared, wildcards bool
}

// refuses returns why a broker with features f cannot take filter, or nil.
// The error is ErrFeatureNotSupported: the broker has said no in advance.
func (f serverFeatures) refuses(filter string) error {
	missing := ""
	switch {
	case !f.shared && topic.IsShared(filter):
		missing = "Shared Subscription Available"
	case !f.wildcards && topic.Wildcard(filter):
		missing = "Wildcard Subscription Available"
	default:
		return nil
	}
	return fail(ErrFeatureNotSupported, "filter %q: the broker's CONNACK says %s 0", filter, missing)
}
