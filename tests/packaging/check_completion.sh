#!/bin/bash
# bash completion for tidsctl and tidsd: commands and subcommands agree with
# the programs' own help (a new command without completion fails here),
# options come from the help of the command typed, and option values
# (formats, tiers, decisions, files) complete. Run with bash-completion's
# helpers loaded (as users have them) and without.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
O=${O:-build}
case "$O" in /*) ;; *) O=$root/$O ;; esac
tidsctl=$O/tidsctl
tidsd=$O/tidsd
fail() { echo "check_completion: $*" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/hub.conf" "$tmp/hub.pub" "$tmp/other.txt"

# complete FUNC WORD... : COMPREPLY for the command line WORDS (the last is
# the word being completed), one per line, sorted.
complete_line() {
	local fn=$1
	shift
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]:-}"
	printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort
}
words() { tr ' ' '\n' | sed '/^$/d' | sort; }
expect() {
	local what=$1 want=$2 got=$3
	[ "$want" = "$got" ] || fail "$what: expected [$(echo $want)], got [$(echo $got)]"
}
contains() {
	local what=$1 got=$2
	shift 2
	for w in "$@"; do
		printf '%s\n' "$got" | grep -qx -- "$w" || fail "$what: '$w' missing from [$(echo $got)]"
	done
}

run_checks() {
	# Commands: those of `tidsctl --help`.
	local help_cmds audit_subs policy_subs admin_subs got
	help_cmds=$("$tidsctl" --help | sed -n '/^commands:/,/^$/s/^  \([a-z-]*\) .*/\1/p' | words)
	[ -n "$help_cmds" ] || fail "no commands in tidsctl --help"
	got=$(complete_line _tidsctl "$tidsctl" "")
	expect "tidsctl <TAB>" "$(printf '%s\n--help' "$help_cmds" | sort)" "$got"
	expect "tidsctl au<TAB>" "audit" "$(complete_line _tidsctl "$tidsctl" au)"

	audit_subs=$("$tidsctl" audit --help 2>&1 | sed -n 's/^  \([a-z-]*\)  .*/\1/p' | words)
	expect "tidsctl audit <TAB>" "$audit_subs" "$(complete_line _tidsctl "$tidsctl" audit "")"
	policy_subs=$("$tidsctl" policy --help 2>&1 | sed -n 's/^  \([a-z-]*\) .*/\1/p' | words)
	expect "tidsctl policy <TAB>" "$policy_subs" "$(complete_line _tidsctl "$tidsctl" policy "")"
	admin_subs=$("$tidsctl" admin --help 2>&1 | sed -n 's/.*tidsctl admin \[CONNECTION\] \([a-z|-]*\).*/\1/p' |
		tr '|' '\n' | sort -u)
	expect "tidsctl admin <TAB>" "$admin_subs" "$(complete_line _tidsctl "$tidsctl" admin "")"
	expect "tidsctl admin register <TAB>" "$(words <<<"asset participant peer")" \
		"$(complete_line _tidsctl "$tidsctl" admin register "")"
	expect "tidsctl admin list <TAB>" \
		"$("$tidsctl" admin --help 2>&1 | sed -n 's/.*tidsctl admin \[CONNECTION\] list \([a-z|]*\).*/\1/p' | tr '|' '\n' | sort)" \
		"$(complete_line _tidsctl "$tidsctl" admin list "")"
	expect "tidsctl admin --hub x register <TAB>" "$(words <<<"asset participant peer")" \
		"$(complete_line _tidsctl "$tidsctl" admin --hub "$tmp/s" register "")"

	# Options: every one the command's help names.
	got=$(complete_line _tidsctl "$tidsctl" audit query --)
	contains "tidsctl audit query --<TAB>" "$got" --ledger --format --since --until --limit --decision --tier --record
	for opt in $("$tidsctl" audit query --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u); do
		contains "tidsctl audit query --<TAB>" "$got" "$opt"
	done
	contains "tidsctl publish --<TAB>" "$(complete_line _tidsctl "$tidsctl" publish --)" --hub --key --hub-key --batch --seq
	contains "tidsctl admin register participant --<TAB>" \
		"$(complete_line _tidsctl "$tidsctl" admin register participant --)" --id --role --jurisdiction --key-pub
	expect "tidsctl audit query --for<TAB>" "--format" "$(complete_line _tidsctl "$tidsctl" audit query --for)"

	# Values.
	expect "--format <TAB>" "$(words <<<"table jsonl csv")" "$(complete_line _tidsctl "$tidsctl" audit query --format "")"
	expect "--tier <TAB>" "$(words <<<"general important core")" "$(complete_line _tidsctl "$tidsctl" audit query --tier "")"
	expect "--decision <TAB>" "$(words <<<"allow deny transform")" \
		"$(complete_line _tidsctl "$tidsctl" audit query --decision "")"
	got=$(complete_line _tidsctl "$tidsctl" audit verify --hub-key "@$tmp/hub.p")
	expect "--hub-key @<TAB>" "@$tmp/hub.pub" "$got"
	got=$(complete_line _tidsctl "$tidsctl" audit verify --ledger "$tmp/oth")
	expect "--ledger <TAB>" "$tmp/other.txt" "$got"
	expect "--limit <TAB> (a number: nothing)" "" "$(complete_line _tidsctl "$tidsctl" audit query --limit "")"

	# tidsd.
	got=$(complete_line _tidsd "$tidsd" -)
	for opt in $("$tidsd" --help | grep -oE -- '(^| )--?[a-zA-Z][a-z-]*' | tr -d ' ' | sort -u); do
		contains "tidsd -<TAB>" "$got" "$opt"
	done
	expect "tidsd -c <TAB>" "$tmp/hub.conf" "$(complete_line _tidsd "$tidsd" -c "$tmp/hub.c")"
}

# shellcheck source=/dev/null
. "$root/packaging/bash-completion/tidsctl"
# shellcheck source=/dev/null
. "$root/packaging/bash-completion/tidsd"
run_checks
with=""
if [ -r /usr/share/bash-completion/bash_completion ]; then
	# shellcheck source=/dev/null
	BASH_COMPLETION_USER_DIR=$tmp . /usr/share/bash-completion/bash_completion >/dev/null 2>&1 || true
	set -eu
	. "$root/packaging/bash-completion/tidsctl"
	. "$root/packaging/bash-completion/tidsd"
	declare -F _init_completion >/dev/null && { run_checks; with=", also with bash-completion's helpers"; }
fi
echo "  COMPL    tidsctl and tidsd complete commands, options and values$with"
