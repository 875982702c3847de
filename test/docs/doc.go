// Package docs checks that README.md and the learning docs under docs/ match
// the repository they describe, so a reader never follows a link, path, make
// target, script flag or shell snippet that does not exist or cannot run.
// Markdown is read with goldmark (CommonMark, GitHub's tables), shell with
// the shared bash parser of test/shellwords.
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
//     every other line of a console block is output and is not parsed. A
//     block bash accepts must also parse with shellwords, so the checks above
//     never skip its commands.
//   - CheckMermaid: every mermaid block starts with a known diagram type and
//     has balanced brackets, parentheses and braces outside quoted labels.
//   - CheckQuotes: script output the docs quote is what the script prints.
//     A line of a text, console (output) or untagged block, or a code span,
//     that starts with "<script>.sh: " must be a message of scripts/<script>.sh
//     (log, warn "warning: ", die "error: ", usage_error "... (see --help)",
//     or another string of its source or of scripts/lib/common.sh). In a
//     console block, a "label: value" output line of a command that runs a
//     script (directly, through on-host.sh or a make target) must match a line
//     with that label the script prints, if it prints that label at all; and
//     "PASS|FAIL|SKIP <name> <detail>" lines under verify-instance.sh, and such
//     code spans anywhere, must name a check the script defines and match one
//     of its record calls. How a quote matches a script line: see quotes.go.
//
// docs_test.go runs the checks over the real documents; checks_test.go proves
// each check fires on a small bad fixture under testdata/.
package docs
