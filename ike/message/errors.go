package message

import (
	"errors"
	"fmt"
)

// ParseError is a decode failure. Notify is what a responder answers with
// (INVALID_SYNTAX, UNSUPPORTED_CRITICAL_PAYLOAD or INVALID_MAJOR_VERSION), in
// the spirit of GoBGP's MessageError carrying its NOTIFICATION code.
type ParseError struct {
	Notify NotifyType
	Err    error
}

func (e *ParseError) Error() string {
	return "ikev2 message: " + e.Notify.String() + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

// ErrUnknownAttribute marks a transform carrying an attribute IKEv2 does not
// define. RFC 7296 §3.3.6 says such a transform must be rejected (not the
// whole message), so Proposal decoding drops the transform instead of failing.
var ErrUnknownAttribute = errors.New("unrecognized transform attribute")

func syntaxError(format string, args ...any) error {
	return &ParseError{Notify: INVALID_SYNTAX, Err: fmt.Errorf(format, args...)}
}

// inPayload prefixes a decode error with where it happened, keeping its notify.
func inPayload(t PayloadType, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return &ParseError{Notify: pe.Notify, Err: fmt.Errorf("%v payload: %w", t, pe.Err)}
	}
	return &ParseError{Notify: INVALID_SYNTAX, Err: fmt.Errorf("%v payload: %w", t, err)}
}

// errTooLong is returned by Serialize when a field does not fit its length field.
func errTooLong(what string, n int) error {
	return fmt.Errorf("ikev2 message: %s too long (%d bytes)", what, n)
}
