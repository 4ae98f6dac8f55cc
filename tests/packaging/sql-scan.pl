#!/usr/bin/perl
# The scanner behind packaging.sql (check-sql.sh), which holds the allow-list
# and explains the rules. Reads C files as tokens, so comments never count,
# adjacent string literals are one string, and a call's arguments are found
# however they are split over lines. Uses only what perl-base has.
#
# usage: sql-scan.pl ROOT ALLOWLIST FILE...   (FILEs relative to ROOT)
# Prints one line per violation and exits 1 if there is any.
use strict;
use warnings;

my ($root, $allowfile, @files) = @ARGV;
die "usage: sql-scan.pl ROOT ALLOWLIST FILE...\n" unless defined $allowfile && @files;

my $SQL_WORD = qr/\b(?:SELECT|INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|WHERE)\b/i;
my $CONVERSION =
  qr/%[-+ #0']*(?:\*|\d+)?(?:\.(?:\*|\d+))?(?:hh|h|ll|l|j|z|t|L|q)?[diouxXeEfFgGaAcspn]/;

# Functions whose SQL text is not parameterised at all.
my %UNPARAMETERISED = map { $_ => 1 } qw(PQexec PQsendQuery);
# SQLite's own formatting: SQL built with it is SQL built from values.
my %SQLITE_PRINTF = map { $_ => 1 }
  qw(sqlite3_mprintf sqlite3_vmprintf sqlite3_snprintf sqlite3_vsnprintf
  sqlite3_str_appendf sqlite3_str_vappendf);
# printf-family functions that write to memory: index of the format argument.
my %PRINTF_FMT = (
    snprintf => 2, vsnprintf => 2, sprintf => 1, vsprintf => 1,
    asprintf => 1, vasprintf => 1,
);
# Messages for people: formatted into an epoch_error, never executed.
my %MESSAGE_FMT = (epoch_error_set => 4);

# ---- allow-list: "FILE FUNCTION KEY", KEY an identifier or a "literal" ----
my %allowed;    # "file\0func\0key" => [line in allow-list, used?]
open(my $al, '<', $allowfile) or die "$allowfile: $!\n";
while (my $line = <$al>) {
    chomp $line;
    next if $line =~ /^\s*(?:#|$)/;
    my ($file, $func, $key) = $line =~ /^\s*(\S+)\s+(\S+)\s+(.+?)\s*$/
      or die "allow-list line $.: expected FILE FUNCTION KEY: $line\n";
    $allowed{"$file\0$func\0$key"} = [$., 0];
}
close $al;

my @violations;
my @reviewed;

sub violation {
    my ($file, $line, $msg) = @_;
    push @violations, "$file:$line: $msg";
}

# ---- tokenizer ----
# Tokens: [type, text, line]; type is 'str' (text = contents, escapes kept),
# 'id', 'num', 'chr' or 'p' (one punctuation character).
sub tokenize {
    my ($text) = @_;
    my @t;
    my $line = 1;
    pos($text) = 0;
    while (pos($text) < length $text) {
        if ($text =~ /\G(\s+)/gc) {
            $line += ($1 =~ tr/\n//);
        } elsif ($text =~ m{\G(/\*.*?\*/)}gcs) {
            $line += ($1 =~ tr/\n//);
        } elsif ($text =~ m{\G//[^\n]*}gc) {
        } elsif ($text =~ /\G(?:u8|[uUL])?"((?:\\.|[^"\\\n])*)"/gc) {
            push @t, ['str', $1, $line];
        } elsif ($text =~ /\G(?:[uUL])?'((?:\\.|[^'\\\n])*)'/gc) {
            push @t, ['chr', $1, $line];
        } elsif ($text =~ /\G([A-Za-z_]\w*)/gc) {
            push @t, ['id', $1, $line];
        } elsif ($text =~ /\G(\.?\d(?:[eEpP][-+]|[\w.])*)/gc) {
            push @t, ['num', $1, $line];
        } elsif ($text =~ /\G\\\n/gc) {
            $line++;
        } elsif ($text =~ /\G(.)/gcs) {
            push @t, ['p', $1, $line];
        }
    }
    return \@t;
}

sub is_macro { $_[0][0] eq 'id' && $_[0][1] =~ /^(?:[A-Z][A-Z0-9_]*|PRI\w+|SCN\w+)$/ }

# Index after the group that opens at $t->[$i] ("(", "[" or "{").
sub skip_group {
    my ($t, $i) = @_;
    my $depth = 0;
    for (; $i < @$t; $i++) {
        next unless $t->[$i][0] eq 'p';
        $depth++ if $t->[$i][1] =~ /[([{]/;
        $depth-- if $t->[$i][1] =~ /[)\]}]/;
        return $i + 1 if $depth == 0;
    }
    return $i;
}

# A string expression starting at $i: string literals, and the macros that
# may sit between them ("SELECT " COLUMNS " FROM", "%" PRId64, STR(X)).
# Returns [end index, text, has literal, only literals].
sub string_expr {
    my ($t, $i) = @_;
    my ($text, $lits, $others) = ('', 0, 0);
    while ($i < @$t) {
        my $tok = $t->[$i];
        if ($tok->[0] eq 'str') {
            $text .= $tok->[1];
            $lits++;
            $i++;
        } elsif (is_macro($tok)) {
            # PRIxNN macros expand to a conversion's length and letter.
            $text .= $tok->[1] =~ /^(?:PRI|SCN)/ ? 'lld' : ' ';
            $others++;
            $i++;
            $i = skip_group($t, $i) if $i < @$t && $t->[$i][0] eq 'p' && $t->[$i][1] eq '(';
        } else {
            last;
        }
    }
    return [$i, $text, $lits, $lits && !$others];
}

# Splits the arguments of the call whose "(" is at $open: [[from, to), ...].
sub call_args {
    my ($t, $open) = @_;
    my @args;
    my $depth = 0;
    my $start = $open + 1;
    for (my $i = $open; $i < @$t; $i++) {
        my $tok = $t->[$i];
        next unless $tok->[0] eq 'p';
        if ($tok->[1] =~ /[([{]/) {
            $depth++;
        } elsif ($tok->[1] =~ /[)\]}]/) {
            $depth--;
            if ($depth == 0) {
                push @args, [$start, $i] if $i > $start || @args;
                return \@args;
            }
        } elsif ($tok->[1] eq ',' && $depth == 1) {
            push @args, [$start, $i];
            $start = $i + 1;
        }
    }
    return \@args;
}

# How an argument is named in the allow-list: "literal" when it is only
# string literals, the identifier for NAME or NAME[...], else its tokens.
sub arg_key {
    my ($t, $from, $to) = @_;
    my $se = string_expr($t, $from);
    return qq("$se->[1]") if $se->[3] && $se->[0] == $to;
    return $t->[$from][1] if $t->[$from][0] eq 'id' && ($to == $from + 1
        || ($t->[$from + 1][0] eq 'p' && $t->[$from + 1][1] eq '[' && skip_group($t, $from + 1) == $to));
    return join ' ', map { $_->[0] eq 'str' ? qq("$_->[1]") : $_->[1] } @$t[$from .. $to - 1];
}

sub allow {
    my ($file, $func, $key) = @_;
    my $entry = $allowed{"$file\0$func\0$key"} or return 0;
    $entry->[1] = 1;
    return 1;
}

# True when $file defines $name as an array initialised by string literals
# (and macros between them) only: constant SQL, no value can get in.
sub constant_array {
    my ($t, $name) = @_;
    for (my $i = 0; $i < @$t; $i++) {
        next unless $t->[$i][0] eq 'id' && $t->[$i][1] eq $name;
        my $j = $i + 1;
        next unless $j < @$t && $t->[$j][1] eq '[';
        $j = skip_group($t, $j);
        next unless $j < @$t && $t->[$j][1] eq '=';
        my $is_const = join(' ', map { $_->[1] } @$t[($i > 6 ? $i - 6 : 0) .. $i - 1]) =~
          /\bconst\s+char\s+\*\s*const\s*$/;
        return 0 unless $is_const;
        $j++;
        return 0 unless $j < @$t && $t->[$j][1] eq '{';
        my $end = skip_group($t, $j);
        for (my $k = $j + 1; $k < $end - 1;) {
            my $se = string_expr($t, $k);
            if ($se->[0] > $k) {
                $k = $se->[0];
            } elsif ($t->[$k][0] eq 'p' && $t->[$k][1] eq ',') {
                $k++;
            } else {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

for my $file (@files) {
    my $path = "$root/$file";
    open(my $fh, '<', $path) or die "$path: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;
    my $t = tokenize($text);
    my %message_fmt;    # token index => 1: the format of a message call

    for (my $i = 0; $i < @$t; $i++) {
        my $tok = $t->[$i];
        next unless $tok->[0] eq 'id';
        my $name = $tok->[1];
        my $line = $tok->[2];
        my $is_call = $i + 1 < @$t && $t->[$i + 1][0] eq 'p' && $t->[$i + 1][1] eq '(';

        if ($SQLITE_PRINTF{$name}) {
            violation($file, $line, "$name formats SQL text: bind parameters instead");
            next;
        }
        next unless $is_call;
        my $args = call_args($t, $i + 1);

        if ($UNPARAMETERISED{$name}) {
            violation($file, $line,
                "$name( runs SQL text without parameters: use PQexecParams/PQexecPrepared");
        } elsif ($name eq 'sqlite3_exec') {
            if (@$args < 2) {
                violation($file, $line, "sqlite3_exec call without an SQL argument");
                next;
            }
            my $key = arg_key($t, @{$args->[1]});
            if (!allow($file, $name, $key)) {
                violation($file, $line,
                    "sqlite3_exec with SQL $key, which is not on the reviewed allow-list");
            } elsif ($key !~ /^"/ && !constant_array($t, $key)) {
                violation($file, $line,
                    "allow-listed $key is not a const array of string literals in $file");
            } else {
                push @reviewed, "$file:$line: sqlite3_exec $key (allow-listed)";
            }
        } elsif (exists $PRINTF_FMT{$name}) {
            my $idx = $PRINTF_FMT{$name};
            next if @$args <= $idx;    # a declaration, not a call
            my ($from, $to) = @{$args->[$idx]};
            my $key = arg_key($t, $from, $to);
            my $se = string_expr($t, $from);
            my $literal = $se->[2] && $se->[0] == $to;
            if ($literal && $se->[1] =~ $SQL_WORD) {
                violation($file, $line, "$name builds SQL with format $key: bind parameters");
            } elsif (allow($file, $name, $key)) {
                push @reviewed, "$file:$line: $name $key (allow-listed)";
            } elsif (!$literal) {
                violation($file, $line,
                    "$name with a non-literal format ($key) is not on the allow-list");
            } elsif ($file =~ m{(?:^|/)backends/}) {
                violation($file, $line,
                    "$name $key in a backend: its output could become SQL; "
                      . "if it cannot, add it to the allow-list");
            }
        } elsif (exists $MESSAGE_FMT{$name}) {
            my $idx = $MESSAGE_FMT{$name};
            $message_fmt{$args->[$idx][0]} = 1 if @$args > $idx;
        }
    }

    # Any string with SQL in it and a conversion, other than a message.
    for (my $i = 0; $i < @$t; $i++) {
        next unless $t->[$i][0] eq 'str' || is_macro($t->[$i]);
        my $se = string_expr($t, $i);
        next unless $se->[2];
        (my $text = $se->[1]) =~ s/%%//g;
        if ($text =~ $SQL_WORD && $text =~ $CONVERSION && !$message_fmt{$i}) {
            violation($file, $t->[$i][2],
                qq(string with SQL and a printf conversion: "$se->[1]": bind parameters));
        }
        $i = $se->[0] - 1;
    }
}

for my $k (sort { $allowed{$a}[0] <=> $allowed{$b}[0] } keys %allowed) {
    next if $allowed{$k}[1];
    my ($file, $func, $key) = split /\0/, $k;
    push @violations, "allow-list line $allowed{$k}[0]: $file $func $key matches nothing: "
      . "remove it (the list must name exactly what is reviewed)";
}

print "reviewed: $_\n" for @reviewed;
print "VIOLATION: $_\n" for @violations;
exit(@violations ? 1 : 0);
