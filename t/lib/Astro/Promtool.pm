package Astro::Promtool;

# Prometheus's own checker on what the tests read: promtool (Debian's
# prometheus package, which util/install-deps.sh installs) or $PROMTOOL.

use strict;
use warnings;

use File::Temp ();
use Test::More ();

our $BIN = $ENV{PROMTOOL} || '/usr/bin/promtool';

sub available { return -x $BIN }

# promtool's output and exit code, with the file $in (or nothing) as its
# standard input
sub run {
    my ($in, @args) = @_;

    my $cmd = join ' ', map { "'$_'" } $BIN, @args;
    $cmd .= defined $in ? " < '$in' 2>&1" : ' 2>&1';

    my $out = `$cmd`;

    return ($out, $? >> 8);
}

# `promtool check metrics` on a text exposition: ($out, $rc), both empty
# and 0 when it has no error and no warning
sub check_metrics {
    my ($text) = @_;

    my $tmp = File::Temp->new(SUFFIX => '.prom');
    print $tmp $text;
    close $tmp;

    return run($tmp->filename, 'check', 'metrics');
}

# a test: `promtool check metrics` on $text has no error and no warning
# (skipped without promtool)
sub metrics_ok {
    my ($text, $name) = @_;

    return Test::More->builder->skip('promtool is not installed')
        unless available();

    my ($out, $rc) = check_metrics($text);

    local $Test::Builder::Level = $Test::Builder::Level + 1;

    return Test::More::is($rc . $out, '0', $name);
}

1;
