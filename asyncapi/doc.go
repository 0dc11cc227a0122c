// Package asyncapi describes mqttrpc services in AsyncAPI 3.0
// (https://www.asyncapi.com/docs/reference/specification/v3.0.0), the
// OpenAPI of message-driven APIs, so that tools can render, lint and
// generate code for them (AsyncAPI Modelina's typed models are tested: see
// the repository's README).
//
// [Generate] describes the services a Broker runs, with payload schemas
// made from the Go types of their [mqttrpc.Typed] handlers; [FromServices]
// describes services known from discovery. Discovery's INFO replies carry
// the names of the types but not their schemas; its SCHEMA replies
// ([mqttrpc.ServiceSchemas]) carry the schemas too, where the services'
// Broker makes them with [JSONSchema] ([mqttrpc.WithSchemaGenerator]), and
// FromServices then writes the document Generate does.
//
// One document describes one service (one title, one version), as AsyncAPI
// tools expect: describe several in one only with an [Info] title of its own.
//
// A document has, for each endpoint:
//
//   - a channel whose address is the endpoint's topic pattern: a {name}
//     level is a parameter, and so is a {name...} level, whose value is the
//     rest of the topic and may span several levels ("a/b/c");
//   - an operation with action "receive", as the service receives the
//     requests, and a reply unless the endpoint sends none ([mqttrpc.NoReply]);
//   - a reply channel: on MQTT 5 the reply goes to the request's Response
//     Topic, which the document cannot know in advance, so its address is
//     null (unknown), and the request message's MQTT binding names the
//     Response Topic and Correlation Data. With [mqttrpc.ReplyTopic] the
//     address is that topic, where replies go when a request names none;
//   - messages with their content type and, where the Go type or the
//     schema is known, a JSON Schema of the payload: a string is
//     text/plain, a []byte binary with no content type, and any other type
//     JSON, with the schemas of named struct types in components.schemas
//     under their Go names;
//   - the endpoint's metadata as the operation's x-mqttrpc-metadata, the
//     service's (what all its instances share) as the info's, and
//     x-mqttrpc-streaming on the operation of an endpoint that streams its
//     responses, whose messages have the __stream user property.
//
// With [Info].Discovery, the document describes discovery's PING, INFO and
// STATS requests too, with the schemas of their replies.
//
// The package is a module of its own, so that the core mqttrpc module does
// not depend on a schema generator.
package asyncapi
