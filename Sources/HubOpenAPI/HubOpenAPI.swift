// The hub's API types, generated at build time from openapi.yaml (docs/hub-openapi.yaml) by
// swift-openapi-generator: `Components.Schemas` (the JSON documents), `Operations` (each
// call's input and output) and `APIProtocol`, which the hub implements (Hub) and the generated
// client calls (HubClient). Nothing else lives here: this module is built with
// `-suppress-warnings`, because the generator writes a `public import` into every file it
// splits the types over, and Swift before 6.4 warns where one is unused.
