package asyncapi_test

import (
	"context"
	"fmt"
	"log"

	"github.com/mqttrpc/mqttrpc"
	"github.com/mqttrpc/mqttrpc/asyncapi"
	"github.com/mqttrpc/mqttrpc/embedded"
)

// Switch is the request of the lights service.
type Switch struct {
	On bool `json:"on"`
}

func ExampleGenerate() {
	srv, err := embedded.Start()
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	ctx := context.Background()
	b, err := mqttrpc.Connect(ctx, srv.URL())
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	svc, _ := b.Service(ctx, mqttrpc.ServiceConfig{Name: "lights", Version: "0.4.0"})
	_, _ = svc.Endpoint(ctx, "switch", "home/{room}/light", mqttrpc.Typed(func(context.Context, Switch) (string, error) {
		return "done", nil
	}))

	// The servers as clients reach them, not as the service does.
	doc, err := asyncapi.Generate(b, asyncapi.Info{Servers: []string{"mqtt://broker.example.com:1883"}})
	if err != nil {
		log.Fatal(err)
	}
	ch := doc.Channels["lights.switch"]
	fmt.Println(doc.Info.Title, doc.Info.Version, doc.Servers["broker"].Host)
	fmt.Println(*ch.Address, ch.Parameters["room"].Description)
	fmt.Println(doc.Operations["lights.switch"].Reply.Channel.Ref)
	fmt.Println(string(ch.Messages["request"].Payload))
	fmt.Println(string(doc.Components.Schemas["asyncapi_test.Switch"]))
	// Output:
	// lights 0.4.0 broker.example.com:1883
	// home/{room}/light One topic level (MQTT '+').
	// #/channels/lights.switch.reply
	// {"$ref":"#/components/schemas/asyncapi_test.Switch"}
	// {"properties":{"on":{"type":"boolean"}},"type":"object","required":["on"]}
}
