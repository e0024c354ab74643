package store

import (
	"errors"
	"fmt"
)

// The kinds of errors the store returns. Every error of a rule is an
// *Error whose message is for operators (it names the objects by ID and
// name) and which wraps one of these, for errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrConflict = errors.New("conflict")
	ErrInUse    = errors.New("in use")
	ErrLimit    = errors.New("limit reached")
	ErrInvalid  = errors.New("invalid value")
	ErrLocked   = errors.New("state store locked by another vpgw")
)

// Error is a rule's error: Msg for people, Kind for programs.
type Error struct {
	Kind error
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the Kind.
func (e *Error) Unwrap() error { return e.Kind }

func errf(kind error, format string, a ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, a...)}
}

// label names an object for messages: "cgw-0a1b2c3d4e5f67890 (cgw-1)", or
// the ID alone when the name is the ID.
func label(id, name string) string {
	if name == "" || name == id {
		return id
	}
	return id + " (" + name + ")"
}
