# tsl.bash - bash completion for tsl, installed as .../bash-completion/completions/tsl.
# Everything is read from the command's own help at completion time (`tsl --help`,
# `tsl COMMAND --help`), so new subcommands and options complete without changing this
# file: subcommands, a command's own subcommands (list create, db copy), its options,
# and the values of options whose argument is a file, a directory, a token format, an
# algorithm or a bit width.

# The help of the command being completed: tsl CMD [SUB] --help (SUB when CMD's usage
# names it and `tsl CMD SUB --help` exists, as for db copy).
_tsl_help() {
    "$1" "${@:2}" --help 2>/dev/null
}

# The subcommands of a command's usage block: the first lowercase word after
# "tsl CMD" on each usage line (create, ls, show for list).
_tsl_subs() {
    _tsl_help "$1" "$2" | awk -v cmd="$2" '
        NF == 0 { exit }
        {
            sub(/^usage:/, "")
            for (i = 1; i <= NF; i++) {
                if ($i == "tsl" && $(i + 1) == cmd) { i++; continue }
                if ($i ~ /^[a-z][a-z0-9]*$/) print $i
                break
            }
        }' | sort -u
}

_tsl() {
    local tsl=${COMP_WORDS[0]} cur=${COMP_WORDS[COMP_CWORD]} prev=""
    local IFS=$'\n'
    ((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}
    COMPREPLY=()
    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "$("$tsl" --help 2>/dev/null |
            awk '/^Commands:/ { f = 1; next } f && /^  [a-z]/ { print $1 }')
--help
--version" -- "$cur"))
        return 0
    fi
    local cmd=${COMP_WORDS[1]} sub="" subs
    subs=$(_tsl_subs "$tsl" "$cmd")
    if ((COMP_CWORD == 2)) && [[ -n $subs && $cur != -* ]]; then
        COMPREPLY=($(compgen -W "$subs" -- "$cur"))
        return 0
    fi
    # A subcommand with a help of its own (db copy).
    if ((COMP_CWORD > 2)) && [[ $'\n'$subs$'\n' == *$'\n'${COMP_WORDS[2]}$'\n'* ]] &&
        "$tsl" "$cmd" "${COMP_WORDS[2]}" --help >/dev/null 2>&1; then
        sub=${COMP_WORDS[2]}
    fi
    local help
    help=$(_tsl_help "$tsl" "$cmd" $sub)
    # The argument of the option before the cursor, by the name its help gives it.
    if [[ $prev == -* ]]; then
        local arg
        arg=$(printf '%s\n' "$help" |
            sed -n -E "s/^  (-[a-zA-Z], )?$prev ([A-Z][A-Z:_|.]*)( .*)?$/\2/p" | head -n 1)
        case $arg in
        "") ;;
        F) COMPREPLY=($(compgen -W $'jwt\ncwt' -- "$cur")); return 0 ;;
        B) COMPREPLY=($(compgen -W $'1\n2\n4\n8' -- "$cur")); return 0 ;;
        ALG)
            COMPREPLY=($(compgen -W $'ES256\nES384\nES512\nEdDSA\nRS256\nRS384\nRS512\nPS256\nPS384\nPS512\nHS256' -- "$cur"))
            return 0
            ;;
        DIR) COMPREPLY=($(compgen -d -- "$cur")); return 0 ;;
        FILE | PEM | KEY | CERT | SO | PATH | PATH\|URL | SRC | DST)
            COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
        *) return 0 ;; # a number, a URI, an id: nothing to offer
        esac
    fi
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(printf '%s\n' "$help" |
            sed -n -E 's/^  (-[a-zA-Z], )?(--[a-z0-9-]+).*/\2/p')" -- "$cur"))
        return 0
    fi
    COMPREPLY=($(compgen -f -- "$cur"))
    return 0
}
complete -o filenames -F _tsl tsl
