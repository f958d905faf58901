#!/bin/sh
# Checks docs/reference.md's table of bad inputs against the tests: every
# row must name at least one test, and every test it names must exist (an
# autotest by its AT_SETUP title, a Check test by its START_TEST name).
#   usage: check-bad-inputs.sh SRCDIR
# Prints the number of rows checked; exits 1, naming what is wrong, if a row
# names no test or a test that does not exist.
src=${1:-.}
ref=$src/docs/reference.md
status=0 rows=0
table=$(sed -n '/<!-- bad-inputs-table -->/,/<!-- \/bad-inputs-table -->/p' "$ref")
if [ -z "$table" ]; then
    echo "$ref: no table of bad inputs" >&2
    exit 1
fi
tab=$(printf '\t')
echo "$table" | awk -F'|' 'NF >= 5 && $2 !~ /^ *(input|---|\*\*)/ {
    printf "%s\t%s\n", $2, $4 }' > bad-inputs.$$
while IFS="$tab" read -r input tests; do
    rows=$((rows + 1))
    n=0
    titles=$(printf '%s\n' "$tests" | grep -o '"[^"]*"' | tr -d '"')
    names=$(printf '%s\n' "$tests" | grep -o 'test_[a-z0-9_]*')
    if [ -n "$titles" ]; then
        while read -r t; do
            n=$((n + 1))
            # The whole title; a test run per datapath adds " - $1".
            if ! grep -qF -e "AT_SETUP([$t])" -e "AT_SETUP([$t - \$1])" \
                    "$src"/tests/*.at; then
                echo "no autotest \"$t\" (row: $input)" >&2
                status=1
            fi
        done <<EOT
$titles
EOT
    fi
    for t in $names; do
        n=$((n + 1))
        if ! grep -qF "START_TEST($t)" "$src"/tests/*.c; then
            echo "no Check test $t (row: $input)" >&2
            status=1
        fi
    done
    if [ $n -eq 0 ]; then
        echo "row names no test: $input" >&2
        status=1
    fi
done < bad-inputs.$$
rm -f bad-inputs.$$
echo "$rows rows checked"
exit $status
