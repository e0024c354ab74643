package isakmp

import (
	"errors"
	"fmt"
)

// ParseError is a decode failure. Notify is what a responder would answer
// with (PAYLOAD_MALFORMED, BAD_PROPOSAL_SYNTAX, INVALID_MAJOR_VERSION,
// INVALID_PAYLOAD_TYPE, UNEQUAL_PAYLOAD_LENGTHS, DOI_NOT_SUPPORTED,
// SITUATION_NOT_SUPPORTED), in the spirit of GoBGP's MessageError.
type ParseError struct {
	Notify NotifyType
	Err    error
}

func (e *ParseError) Error() string {
	return "isakmp: " + e.Notify.String() + ": " + e.Err.Error()
}

func (e *ParseError) Unwrap() error { return e.Err }

func parseError(n NotifyType, format string, args ...any) error {
	return &ParseError{Notify: n, Err: fmt.Errorf(format, args...)}
}

func malformed(format string, args ...any) error {
	return parseError(PAYLOAD_MALFORMED, format, args...)
}

func badProposal(format string, args ...any) error {
	return parseError(BAD_PROPOSAL_SYNTAX, format, args...)
}

// inPayload prefixes a decode error with where it happened, keeping its notify.
func inPayload(t PayloadType, err error) error {
	var pe *ParseError
	if errors.As(err, &pe) {
		return &ParseError{Notify: pe.Notify, Err: fmt.Errorf("%v payload: %w", t, pe.Err)}
	}
	return &ParseError{Notify: PAYLOAD_MALFORMED, Err: fmt.Errorf("%v payload: %w", t, err)}
}

// errTooLong is returned by Serialize when a field does not fit its length field.
func errTooLong(what string, n int) error {
	return fmt.Errorf("isakmp: %s too long (%d bytes)", what, n)
}
