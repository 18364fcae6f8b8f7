// Package wire converts between the bytes that AWS SDK for Go v2 clients put
// on the wire and the SDK's own input and output structs, on the server side.
//
// It speaks four protocols, all generically by reflection over the SDK types:
//
//   - AWS JSON 1.1 (SSM): DecodeJSON, EncodeJSON, EncodeJSONError.
//   - EC2 query (EC2): DecodeQuery with EC2Query, EncodeEC2, EncodeEC2Error.
//   - awsquery (IAM, STS, SNS): DecodeQuery with AWSQuery, EncodeQuery,
//     EncodeQueryError.
//   - Smithy RPC v2 CBOR (CloudWatch): DecodeCBOR, EncodeCBOR,
//     EncodeCBORError.
//
// Wire names follow the service models. Where a model renames a member (EC2's
// reservationSet, query keys such as Filter.N, SSM's lower-case "key" and
// "valueSet", SNS's MessageAttributes.entry.N.Name) the name comes from a
// table derived from the SDK's generated serializers and deserializers by
// `go generate` (see internal/gennames); every other member uses the default
// rule of its protocol.
//
// Decoding is strict: unknown members, badly typed values and malformed
// bodies yield an *Error that names the offending member and carries the AWS
// error code to answer with. Nothing a client sends can make a decoder panic.
//
// ToMap and FromMap convert SDK structs to and from generic maps keyed by
// member name, using the JSON codec, for callers that invoke APIs by name.
package wire
