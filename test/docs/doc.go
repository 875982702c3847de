// Package docs checks that README.md and the learning docs under docs/ match
// the repository they describe, so a reader never follows a link, path, make
// target, script flag or shell snippet that does not exist or cannot run.
//
// The checks, each a function returning the problems it found:
//
//   - CheckLinks: every relative link and #anchor resolves (GitHub's heading
//     slug rules; external https links are left alone).
//   - CheckPaths: every repository path written in backticks (apps/…,
//     scripts/…, configs/…, test/…, docs/…, .github/…, Containerfile,
//     Makefile, config.toml) exists. Paths with placeholders such as
//     apps/<name>/main.go are examples and are skipped.
//   - CheckMakeTargets: every `make <target>` in inline code or a shell block
//     names a target defined in the Makefile.
//   - CheckMakeErrorLines: make's error lines shown in example output
//     ("make: *** [Makefile:124: os-check] Error 10") point at a recipe line
//     of that target, so examples follow the Makefile when it changes.
//   - CheckScriptFlags: every flag written after a repository script
//     (scripts/<name>.sh, a bare <name>.sh of scripts/, or another *.sh path
//     of the repository) appears in that script's --help output, and so does
//     every flag passed through a Makefile variable that a recipe hands to a
//     script (make verify VERIFY_ARGS="--expect-digest ...").
//   - CheckShellBlocks: every fenced block tagged bash, sh, shell or console
//     parses with `bash -n`. Console blocks show commands after a "$ " prompt;
//     every other line of a console block is output and is not parsed.
//   - CheckMermaid: every mermaid block starts with a known diagram type and
//     has balanced brackets, parentheses and braces outside quoted labels.
//
// docs_test.go runs the checks over the real documents; checks_test.go proves
// each check fires on a small bad fixture under testdata/.
package docs
