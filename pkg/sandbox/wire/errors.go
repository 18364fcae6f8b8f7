package wire

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Error is a decoding error carrying the AWS error code to answer with.
type Error struct{ Code, Message string }

// Error implements the error interface.
func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Error codes used by the decoders.
const (
	codeSerialization   = "SerializationException" // JSON and CBOR bodies
	codeInvalidValue    = "InvalidParameterValue"  // query parameter values
	codeUnknownEC2      = "UnknownParameter"       // EC2 unknown parameter
	codeUnknownAWSQuery = "InvalidParameter"       // awsquery unknown parameter
)

func errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// EncodeEC2Error renders an EC2 error response:
// <Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>.
func EncodeEC2Error(code, message, requestID string) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<Response><Errors><Error><Code>")
	escape(&b, code)
	b.WriteString("</Code><Message>")
	escape(&b, message)
	b.WriteString("</Message></Error></Errors><RequestID>")
	escape(&b, requestID)
	b.WriteString("</RequestID></Response>")
	return b.Bytes()
}

// EncodeQueryError renders an awsquery error response: <ErrorResponse
// xmlns="NS"><Error><Type>Sender|Receiver</Type><Code>…</Code>
// <Message>…</Message></Error><RequestId>…</RequestId></ErrorResponse>.
// sender selects Type Sender (a client fault) over Receiver (a server fault).
func EncodeQueryError(xmlns, code, message, requestID string, sender bool) []byte {
	typ := "Receiver"
	if sender {
		typ = "Sender"
	}
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString(`<ErrorResponse xmlns="`)
	escape(&b, xmlns)
	b.WriteString(`"><Error><Type>`)
	b.WriteString(typ)
	b.WriteString("</Type><Code>")
	escape(&b, code)
	b.WriteString("</Code><Message>")
	escape(&b, message)
	b.WriteString("</Message></Error><RequestId>")
	escape(&b, requestID)
	b.WriteString("</RequestId></ErrorResponse>")
	return b.Bytes()
}

// EncodeJSONError renders an AWS JSON error body {"__type":"Code","message":"…"}.
func EncodeJSONError(code, message string) []byte {
	// A map of strings always marshals (invalid UTF-8 becomes U+FFFD).
	b, _ := json.Marshal(map[string]string{"__type": code, "message": message})
	return b
}

// EncodeCBORError renders an RPC v2 CBOR error body: a map with "__type" and
// "message". The message is also written as "Message": the SDK reads a
// modeled error's message from its model member, matching the name exactly
// in CBOR, and the model calls it "Message" in some error shapes and
// "message" in others.
func EncodeCBORError(code, message string) []byte {
	return cbor.Encode(cbor.Map{
		"__type":  cbor.String(code),
		"message": cbor.String(message),
		"Message": cbor.String(message),
	})
}

// escape writes s as XML character data.
func escape(b *bytes.Buffer, s string) {
	// xml.EscapeText only fails when the writer fails; bytes.Buffer does not.
	_ = xml.EscapeText(b, []byte(s))
}
