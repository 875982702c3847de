// Package signing tests that only images signed with the project's key reach a
// host: the policy files the image ships (configs/signing-policy.sh, rendered at
// build from keys/ and IMAGE), evaluated by containers/image against a real
// registry holding images signed with cosign; the enforcement unit's script;
// and verify-instance.sh's bootc-sigpolicy check.
//
// The policy evaluation needs containers/image built without gpgme:
//
//	CGO_ENABLED=0 go test -tags containers_image_openpgp -count=1 -v ./signing/
//
// Without the tag the evaluating tests fail and say so.
package signing
