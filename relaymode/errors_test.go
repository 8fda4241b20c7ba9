package relaymode

import (
	"encoding/hex"
	"errors"
)

func errorAs(err error, target any) bool { return errors.As(err, target) }

func hexString(b []byte) string { return hex.EncodeToString(b) }
