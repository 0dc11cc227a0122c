package asyncapi

import (
	"fmt"
	"reflect"

	"github.com/mqttrpc/mqttrpc"
)

// discoveryVerbs are discovery's requests and the Go types of their replies.
var discoveryVerbs = []struct {
	verb  string
	reply reflect.Type
}{
	{mqttrpc.VerbPing, reflect.TypeFor[mqttrpc.ServicePing]()},
	{mqttrpc.VerbInfo, reflect.TypeFor[mqttrpc.ServiceInfo]()},
	{mqttrpc.VerbStats, reflect.TypeFor[mqttrpc.ServiceStats]()},
}

// addDiscovery adds a channel and an operation for each discovery verb
// under prefix, keyed mqttrpc.discovery.<VERB>: no service's endpoint has
// such a key, as their names hold no '.'.
func (g *generator) addDiscovery(prefix string) error {
	for _, v := range discoveryVerbs {
		topic, err := mqttrpc.DiscoveryTopic(prefix, v.verb, "", "")
		if err != nil {
			return fmt.Errorf("asyncapi: discovery: %w", err)
		}
		e := endpoint{
			EndpointInfo: mqttrpc.EndpointInfo{
				Name: v.verb, Pattern: topic, QoS: 1,
				ResponseSchema: schemaName(v.reply), ResponseContentType: "application/json",
			},
			key:      "mqttrpc.discovery." + v.verb,
			response: v.reply,
			description: fmt.Sprintf("An empty request, which every instance of every service answers with one reply; "+
				"%s/<name> asks the instances of one service, %s/<name>/<id> one instance.", topic, topic),
		}
		if err := g.add(e); err != nil {
			return fmt.Errorf("asyncapi: discovery %s: %w", v.verb, err)
		}
	}
	return nil
}
