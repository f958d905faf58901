#
# Bash completion for flexmap-ctl (ovs-flexmap).
#
# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License.  You may obtain
# a copy of the License at http://www.apache.org/licenses/LICENSE-2.0
#
# Completes global and command options, command names (as "flexmap-ctl
# --help" lists them, so they follow the program), and the arguments of
# each command: table names, and tenants, addresses, switches and
# containers read from the database that the command line names (--db)
# or the default one.  Several commands joined with "--" each complete
# on their own.  Like ovs-vsctl's completion, it is installed into
# $(sysconfdir)/bash_completion.d by "make install".

# Prints the --db option that the command line gives, if any.
_flexmap_ctl_db_args () {
    local w
    for w in "${COMP_WORDS[@]}"; do
        case $w in
            --db=*) printf '%s\n' "$w" ;;
        esac
    done
}

# Prints column $2 of every row of table $1, from the database.
_flexmap_ctl_column () {
    "${_FLEXMAP_CTL:-flexmap-ctl}" $(_flexmap_ctl_db_args) --timeout=2 \
        --bare --columns="$2" list "$1" 2>/dev/null | sed '/^$/d'
}

# Prints the command names that "flexmap-ctl --help" lists.
_flexmap_ctl_commands () {
    "${_FLEXMAP_CTL:-flexmap-ctl}" --help 2>/dev/null \
        | awk '/^  [a-z]/ && $1 !~ /:/ { print $1 }'
}

_flexmap_ctl_tables="Global Tenant Public_IP Switch Container Mapping"

_flexmap_ctl_global_options="--db= --timeout= --dry-run --wait --oneline
--no-syslog --format= --data= --no-headings --pretty --bare --columns=
--help --version --verbose"
_flexmap_ctl_command_options="--may-exist --if-exists --force --all
--id="

_flexmap_ctl_complete () {
    local cur=${COMP_WORDS[COMP_CWORD]}
    local start=1 i cmd= argn=0 words=

    COMPREPLY=()

    # The current command starts after the last "--" before the cursor.
    for ((i = 1; i < COMP_CWORD; i++)); do
        if [ "${COMP_WORDS[i]}" = "--" ]; then
            start=$((i + 1))
        fi
    done
    for ((i = start; i < COMP_CWORD; i++)); do
        case ${COMP_WORDS[i]} in
            -*) ;;
            *)
                if [ -z "$cmd" ]; then
                    cmd=${COMP_WORDS[i]}
                else
                    argn=$((argn + 1))
                fi ;;
        esac
    done

    if [ -z "$cmd" ]; then
        case $cur in
            -*)
                if [ $start = 1 ]; then
                    words="$_flexmap_ctl_global_options $_flexmap_ctl_command_options"
                else
                    words=$_flexmap_ctl_command_options
                fi ;;
            *) words=$(_flexmap_ctl_commands) ;;
        esac
    else
        # argn is the index (from 1) of the argument being completed.
        argn=$((argn + 1))
        case $cmd:$argn in
            tenant-del:1|ip-add:1|container-add:1)
                words=$(_flexmap_ctl_column Tenant name) ;;
            ip-del:1|map-add:1|map-del:1)
                words=$(_flexmap_ctl_column Public_IP address) ;;
            switch-del:1|switch-uplink:1|switch-return:1|container-add:4|container-move:2)
                words=$(_flexmap_ctl_column Switch name) ;;
            switch-add:3)
                words="host gateway" ;;
            switch-return:2)
                words="gateway direct" ;;
            container-del:1|container-move:1)
                words=$(_flexmap_ctl_column Container name) ;;
            map-add:2|map-del:2)
                words="tcp: udp: sctp: any" ;;
            map-add:*)
                words=$(_flexmap_ctl_column Container name) ;;
            map-load:1)
                COMPREPLY=($(compgen -f -- "$cur"))
                return 0 ;;
            list:1|find:1|get:1|set:1|add:1|remove:1|clear:1|create:1|destroy:1|wait-until:1)
                words=$_flexmap_ctl_tables ;;
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    # "--db=", "tcp:" and the like take more after them.
    if [ ${#COMPREPLY[@]} = 1 ]; then
        case ${COMPREPLY[0]} in
            *=|*:) compopt -o nospace 2>/dev/null ;;
        esac
    fi
    return 0
}

complete -F _flexmap_ctl_complete flexmap-ctl
