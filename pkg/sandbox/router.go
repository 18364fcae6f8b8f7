package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"

	"github.com/fleetdoctor/fleetdoctor/pkg/sandbox/wire"
)

// maxBody caps request bodies; AWS's own limits are far below this for
// every API the sandbox serves except S3, which gofakes3 reads itself.
const maxBody = 8 << 20

// protocol is a wire protocol.
type protocol int

const (
	protoEC2 protocol = iota
	protoQuery
	protoJSON
	protoCBOR
	protoRESTJSON // restJson1 (Security Hub): the operation is in the method and path
)

// xmlns of the awsquery services.
var queryNamespace = map[string]string{
	"iam":        "https://iam.amazonaws.com/doc/2010-05-08/",
	"sts":        "https://sts.amazonaws.com/doc/2011-06-15/",
	"sns":        "http://sns.amazonaws.com/doc/2010-03-31/",
	"monitoring": "http://monitoring.amazonaws.com/doc/2010-08-01/",
}

// handler is one operation: a constructor for its SDK input and the
// function answering it.
type handler struct {
	input  func() any
	invoke func(c *call, in any) (any, error)
}

// op adapts a typed handler.
func op[I, O any](fn func(*call, *I) (*O, error)) handler {
	return handler{
		input: func() any { return new(I) },
		invoke: func(c *call, in any) (any, error) {
			out, err := fn(c, in.(*I))
			if err != nil {
				return nil, err
			}
			if out == nil {
				out = new(O)
			}
			emptyLists(out)
			return out, nil
		},
	}
}

// call is one request being answered.
type call struct {
	ctx       context.Context
	s         *Sandbox
	service   string
	op        string
	account   string
	region    string
	principal principal
	requestID string
}

// apiError builds an AWS error answer.
func apiError(code, format string, args ...any) error {
	return &smithy.GenericAPIError{Code: code, Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

// ServeHTTP answers one request.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/_sandbox/") {
		s.serveControl(w, r)
		return
	}
	reqID := s.requestID()
	keyID, region, service, ok := credentialScope(r)
	proto := protocolOf(service, r)
	defer func() {
		if v := recover(); v != nil {
			// Never a stack trace on the wire: the service's internal error.
			s.writeError(w, proto, service, reqID, &smithy.GenericAPIError{Code: internalCode(service), Message: "We encountered an internal error. Please try again.", Fault: smithy.FaultServer})
		}
	}()
	if !ok {
		s.writeError(w, proto, service, reqID, apiError(missingAuthCode(service), "Request is missing Authentication Token"))
		return
	}
	p, known := s.keys.lookup(keyID)
	if service == "s3" {
		s.serveS3(w, r, known)
		return
	}
	if _, supported := queryNamespace[service]; !supported && service != "ec2" && service != "ssm" && service != "securityhub" && service != "secretsmanager" {
		s.writeError(w, protoQuery, service, reqID, apiError("UnrecognizedClientException", "The sandbox does not serve the %q service", service))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		s.writeError(w, proto, service, reqID, apiError(invalidCode(service), "Request body unreadable or larger than %d bytes", maxBody))
		return
	}
	opName, form, err := operationOf(proto, r, body)
	if err != nil {
		s.writeError(w, proto, service, reqID, err)
		return
	}
	api := service + ":" + opName
	if !known {
		s.stats.add(api, func(a *APIStats) { a.Calls++; a.Errors++ })
		s.writeError(w, proto, service, reqID, &smithy.GenericAPIError{Code: invalidTokenCode(service), Message: "The security token included in the request is invalid.", Fault: smithy.FaultClient})
		return
	}
	h, ok := s.handlers[service][opName]
	if !ok {
		s.writeError(w, proto, service, reqID, apiError(unknownOpCode(proto), "The action %s is not valid for this web service.", opName))
		return
	}
	in := h.input()
	if err := decode(proto, body, form, in); err != nil {
		s.stats.add(api, func(a *APIStats) { a.Calls++; a.Errors++ })
		s.writeError(w, proto, service, reqID, asAPIError(err, invalidCode(service)))
		return
	}
	if service == "iam" || service == "sts" {
		region = "us-east-1"
	}
	c := &call{ctx: r.Context(), s: s, service: service, op: opName, account: p.Account, region: region, principal: p, requestID: reqID}
	out, err := s.dispatch(c, h, in, true)
	if err != nil {
		var tf *timeoutFault
		if errors.As(err, &tf) {
			s.dropConnection(w, r, tf.delay)
			return
		}
		s.writeError(w, proto, service, reqID, err)
		return
	}
	s.writeOK(w, proto, opName, service, reqID, out)
}

// dispatch runs the request through latency, faults and throttling, then
// the handler, counting it. Automation's executeAwsApi comes through here
// too (wire=false), so its calls count against the same APIs.
func (s *Sandbox) dispatch(c *call, h handler, in any, wire bool) (any, error) {
	api := c.service + ":" + c.op
	s.stats.add(api, func(a *APIStats) { a.Calls++ })
	if wire {
		s.wait(c.ctx)
	}
	faultAccount, role := c.account, ""
	if ar, ok := in.(*sts.AssumeRoleInput); ok && ar.RoleArn != nil {
		if a, err := arn.Parse(*ar.RoleArn); err == nil {
			faultAccount, role = a.AccountID, strings.TrimPrefix(a.Resource, "role/")
		}
	}
	if f, hit := s.faults.match(c.service, c.op, faultAccount, c.region, role); hit {
		s.stats.add(api, func(a *APIStats) { a.Faulted++ })
		switch f.Kind {
		case FaultTimeout:
			d := f.Delay
			if d == 0 {
				d = 30 * time.Second
			}
			return nil, &timeoutFault{delay: d}
		case FaultAccessDenied:
			return nil, accessDenied(c, role)
		case FaultThrottle:
			return nil, throttleError(c.service)
		default:
			return nil, &smithy.GenericAPIError{Code: internalCode(c.service), Message: "We encountered an internal error. Please try again.", Fault: smithy.FaultServer}
		}
	}
	scope := c.account + "/" + c.region
	bucket := s.opts.Limits.Lookup(c.service, c.op, bucketClass(c.service, c.op, in))
	if !s.limiter.allow(scope, bucket, time.Now()) {
		s.stats.add(api, func(a *APIStats) { a.Throttled++ })
		return nil, throttleError(c.service)
	}
	out, err := h.invoke(c, in)
	if err != nil {
		s.stats.add(api, func(a *APIStats) { a.Errors++ })
		return nil, err
	}
	return out, nil
}

type timeoutFault struct{ delay time.Duration }

func (t *timeoutFault) Error() string { return "injected timeout" }

// dropConnection holds the request, then closes the connection unanswered.
func (s *Sandbox) dropConnection(w http.ResponseWriter, r *http.Request, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-t.C:
	}
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func accessDenied(c *call, role string) error {
	if c.service == "ec2" {
		return &smithy.GenericAPIError{Code: "UnauthorizedOperation", Message: "You are not authorized to perform this operation. User: " + c.principal.ARN + " is not authorized to perform: ec2:" + c.op, Fault: smithy.FaultClient}
	}
	if c.service == "ssm" || c.service == "securityhub" {
		return &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "User: " + c.principal.ARN + " is not authorized to perform: " + c.service + ":" + c.op, Fault: smithy.FaultClient}
	}
	resource := "*"
	if role != "" {
		resource = "role/" + role
	}
	return &smithy.GenericAPIError{Code: "AccessDenied", Message: "User: " + c.principal.ARN + " is not authorized to perform: " + c.service + ":" + c.op + " on resource: " + resource, Fault: smithy.FaultClient}
}

func throttleError(service string) error {
	switch service {
	case "ec2":
		return &smithy.GenericAPIError{Code: "RequestLimitExceeded", Message: "Request limit exceeded.", Fault: smithy.FaultClient}
	case "ssm":
		return &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
	case "sns":
		return &smithy.GenericAPIError{Code: "Throttled", Message: "Rate exceeded", Fault: smithy.FaultClient}
	case "securityhub":
		return &smithy.GenericAPIError{Code: "TooManyRequestsException", Message: "Rate exceeded", Fault: smithy.FaultClient}
	default:
		return &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded", Fault: smithy.FaultClient}
	}
}

func internalCode(service string) string {
	switch service {
	case "ec2", "sns":
		return "InternalError"
	case "ssm":
		return "InternalServerError"
	case "iam":
		return "ServiceFailure"
	case "monitoring":
		return "InternalServiceError"
	case "securityhub":
		return "InternalException"
	default:
		return "InternalFailure"
	}
}

func invalidCode(service string) string {
	switch service {
	case "ec2", "monitoring", "sts":
		return "InvalidParameterValue"
	case "ssm":
		return "ValidationException"
	case "sns":
		return "InvalidParameter"
	case "securityhub":
		return "InvalidInputException"
	default:
		return "InvalidInput"
	}
}

func missingAuthCode(service string) string {
	if service == "ssm" {
		return "MissingAuthenticationTokenException"
	}
	return "MissingAuthenticationToken"
}

func invalidTokenCode(service string) string {
	switch service {
	case "ec2":
		return "AuthFailure"
	case "ssm":
		return "UnrecognizedClientException"
	default:
		return "InvalidClientTokenId"
	}
}

func unknownOpCode(p protocol) string {
	switch p {
	case protoJSON, protoCBOR, protoRESTJSON:
		return "UnknownOperationException"
	default:
		return "InvalidAction"
	}
}

// asAPIError turns a decoding error into the service's validation error.
func asAPIError(err error, code string) error {
	var we *wire.Error
	if errors.As(err, &we) {
		c := we.Code
		if c == "" {
			c = code
		}
		return &smithy.GenericAPIError{Code: c, Message: we.Message, Fault: smithy.FaultClient}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return err
	}
	return &smithy.GenericAPIError{Code: code, Message: err.Error(), Fault: smithy.FaultClient}
}

func protocolOf(service string, r *http.Request) protocol {
	switch {
	case service == "ec2":
		return protoEC2
	case service == "ssm", service == "secretsmanager":
		return protoJSON
	case service == "securityhub":
		return protoRESTJSON
	case service == "monitoring" && r.Header.Get("Smithy-Protocol") == "rpc-v2-cbor":
		return protoCBOR
	default:
		return protoQuery
	}
}

// operationOf finds the operation name (and, for query protocols, the form).
func operationOf(p protocol, r *http.Request, body []byte) (string, url.Values, error) {
	switch p {
	case protoJSON:
		target := r.Header.Get("X-Amz-Target")
		_, name, ok := strings.Cut(target, ".")
		if !ok || name == "" {
			return "", nil, apiError("UnknownOperationException", "Missing or malformed X-Amz-Target header %q", target)
		}
		return name, nil, nil
	case protoRESTJSON:
		name, ok := restJSONOps[r.Method+" "+r.URL.Path]
		if !ok {
			return "", nil, apiError("UnknownOperationException", "No operation at %s %s", r.Method, r.URL.Path)
		}
		return name, nil, nil
	case protoCBOR:
		i := strings.LastIndex(r.URL.Path, "/operation/")
		if i < 0 || r.Method != http.MethodPost {
			return "", nil, apiError("UnknownOperationException", "Not an RPC v2 operation path: %s %s", r.Method, r.URL.Path)
		}
		return r.URL.Path[i+len("/operation/"):], nil, nil
	default:
		form, err := url.ParseQuery(string(body))
		if err != nil {
			return "", nil, apiError("MalformedQueryString", "The request body is not a valid query string: %v", err)
		}
		if r.Method == http.MethodGet {
			form = r.URL.Query()
		}
		action := form.Get("Action")
		if action == "" {
			return "", nil, apiError("MissingAction", "The request must contain the parameter Action.")
		}
		return action, form, nil
	}
}

func decode(p protocol, body []byte, form url.Values, in any) error {
	switch p {
	case protoEC2:
		return wire.DecodeQuery(wire.EC2Query, form, in)
	case protoQuery:
		return wire.DecodeQuery(wire.AWSQuery, form, in)
	case protoJSON, protoRESTJSON:
		return wire.DecodeJSON(body, in)
	default:
		return wire.DecodeCBOR(body, in)
	}
}

func (s *Sandbox) writeOK(w http.ResponseWriter, p protocol, op, service, reqID string, out any) {
	var (
		b   []byte
		err error
	)
	switch p {
	case protoEC2:
		b, err = wire.EncodeEC2(op, out, reqID)
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	case protoQuery:
		b, err = wire.EncodeQuery(op, queryNamespace[service], out, reqID)
		w.Header().Set("Content-Type", "text/xml")
	case protoJSON:
		b, err = wire.EncodeJSON(out)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	case protoRESTJSON:
		b, err = wire.EncodeJSON(out)
		w.Header().Set("Content-Type", "application/json")
	default:
		b, err = wire.EncodeCBOR(out)
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	}
	if err != nil {
		s.writeError(w, p, service, reqID, &smithy.GenericAPIError{Code: internalCode(service), Message: "The sandbox could not encode its answer.", Fault: smithy.FaultServer})
		return
	}
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

func (s *Sandbox) writeError(w http.ResponseWriter, p protocol, service, reqID string, err error) {
	code, msg, status := "InternalFailure", err.Error(), http.StatusInternalServerError
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code, msg = ae.ErrorCode(), ae.ErrorMessage()
		status = httpStatus(service, code, ae.ErrorFault())
	}
	var b []byte
	switch p {
	case protoEC2:
		b = wire.EncodeEC2Error(code, msg, reqID)
		w.Header().Set("Content-Type", "text/xml;charset=UTF-8")
	case protoQuery:
		b = wire.EncodeQueryError(queryNamespace[service], code, msg, reqID, status < 500)
		w.Header().Set("Content-Type", "text/xml")
	case protoJSON:
		b = wire.EncodeJSONError(code, msg)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-ErrorType", code)
	case protoRESTJSON:
		b = wire.EncodeJSONError(code, msg)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Amzn-ErrorType", code)
	default:
		b = wire.EncodeCBORError(code, msg)
		w.Header().Set("Content-Type", "application/cbor")
		w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	}
	w.Header().Set("X-Amzn-RequestId", reqID)
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// httpStatus is the status AWS answers an error code with.
func httpStatus(service, code string, fault smithy.ErrorFault) int {
	switch code {
	case "RequestLimitExceeded", "Unavailable", "ServiceUnavailable":
		return http.StatusServiceUnavailable
	case "UnauthorizedOperation", "AccessDenied", "InvalidClientTokenId", "AuthorizationError", "SignatureDoesNotMatch", "MissingAuthenticationToken":
		return http.StatusForbidden
	case "AuthFailure":
		return http.StatusUnauthorized
	case "TooManyRequestsException":
		return http.StatusTooManyRequests
	case "NoSuchEntity":
		return http.StatusNotFound
	case "NotFound":
		if service == "sns" {
			return http.StatusNotFound
		}
	case "EntityAlreadyExists", "LimitExceeded":
		if service == "iam" {
			return http.StatusConflict
		}
	}
	if fault == smithy.FaultServer {
		return http.StatusInternalServerError
	}
	return http.StatusBadRequest
}

// requestID is a fresh AWS-looking request id.
func (s *Sandbox) requestID() string {
	n := atomic.AddUint64(&s.reqCounter, 1)
	u := uuid.NewSHA1(uuid.NameSpaceOID, fmt.Appendf(nil, "%d-%d", s.opts.Seed, n))
	return u.String()
}

// serveControl answers the sandbox's own endpoints: /_sandbox/stats and
// /_sandbox/health.
func (s *Sandbox) serveControl(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/_sandbox/stats":
		if r.Method == http.MethodDelete {
			s.ResetStats()
			w.WriteHeader(http.StatusNoContent)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"apis": s.Stats(), "total": Total(s.Stats())})
	case "/_sandbox/health":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "accounts": s.world.Accounts, "regions": s.world.Regions})
	default:
		w.WriteHeader(http.StatusNotFound)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": "unknown sandbox endpoint " + r.URL.Path})
	}
}

// emptyLists makes the output's top-level nil lists empty: AWS answers a
// list member with no items as an empty element (<PolicyNames/>,
// "InstanceInformationList": []), and clients such as the AWS CLI's
// paginators rely on its presence.
func emptyLists(out any) {
	v := reflect.ValueOf(out).Elem()
	if v.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Slice && f.IsNil() && f.CanSet() && f.Type().Elem().Kind() != reflect.Uint8 {
			f.Set(reflect.MakeSlice(f.Type(), 0, 0))
		}
	}
}
