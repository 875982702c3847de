// Command evaluate-policy is signing.Evaluate as a program, for a host that
// has no Go toolchain: the simulated host (test/simhost) runs it inside its
// guest before every bootc pull, as bootc's image proxy evaluates the host's
// policy when it opens an image.
//
//	evaluate-policy ROOT NAME@DIGEST|NAME:TAG
//
// ROOT is the filesystem whose etc/containers/policy.json and registries.d
// decide ("/" on the host itself). Exit 0: the policy accepts the image; 1:
// refused or not evaluated, containers/image's error on stderr (for a refusal
// the signature package's PolicyRequirementError, e.g. "A signature was
// required, but no signature exists"); 2: usage.
//
// Build it static, with containers/image's pure-Go OpenPGP (no gpgme):
//
//	CGO_ENABLED=0 go build -tags containers_image_openpgp ./signing/cmd/evaluate-policy
//
// Built without the tag it refuses every image and says why.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"bootc-testboot/test/signing"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: evaluate-policy ROOT IMAGE-REFERENCE")
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := signing.Evaluate(ctx, os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		cancel()
		os.Exit(1)
	}
}
