//go:build !containers_image_openpgp

package signing

import (
	"context"
	"errors"
)

// evaluatorBuilt: this build cannot evaluate policies.
const evaluatorBuilt = false

// Evaluate needs the containers_image_openpgp build tag (containers/image's
// signature package otherwise links gpgme through cgo).
func Evaluate(context.Context, string, string) error {
	return errors.New("built without -tags containers_image_openpgp: containers/image cannot evaluate policies here")
}
