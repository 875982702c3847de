// Package docs checks that README.md and the learning docs under docs/ match
// the repository they describe, so a reader never follows a link, path, make
// target, script flag, snippet or quoted message that does not exist. Markdown
// is read with goldmark (CommonMark, GitHub's tables), shell with the shared
// bash parser of test/shellwords. The checks (Repo.Checks), each described
// where it is defined:
//
//   - links: relative links and #anchors resolve (GitHub's heading slugs).
//   - paths: repository paths in backticks exist.
//   - make: every `make <target>` in code names a Makefile target.
//   - makeerr: make's error lines in example output point at a recipe line.
//   - flags: flags after a repository script, or in a make variable that
//     carries its arguments, appear in its --help.
//   - shell: shell and console blocks parse with `bash -n` and shellwords.
//   - mermaid: mermaid blocks name a diagram type and balance their brackets.
//   - quotes: quoted script messages, "label: value" lines and PASS/FAIL/SKIP
//     lines are what the scripts print (quotes.go).
//
// docs_test.go runs the checks over the real documents; checks_test.go proves
// each check fires on a small bad fixture under testdata/.
package docs
