# The manual matches the code: every directive in a module's command table
# (the AP_INIT_* entries of the table its module record names) has a block
# on its page, docs/mod_ptth_router.md or docs/mod_ptth_backend.md, with
# Description, Syntax, Default, Context and Module, the Module naming that
# module; the pages document no directive that the code lacks and mention
# none.  The shipped Debian .conf files (build/debian/ptth_*.conf) list
# every directive, commented out, with the default the page gives.
# No httpd, no build: it reads files.
#
# Licensed under the Apache License, Version 2.0.
use strict;
use warnings;
use Cwd qw(abs_path);
use FindBin;
use Test::More;

my $ROOT = abs_path("$FindBin::Bin/..");
my @FIELDS = qw(Description Syntax Default Context Module);
# Smallest plausible tables: a parser that finds nothing must fail.
my %MODULES = (
    mod_ptth_router  => { conf => 'ptth_router.conf',  min => 10 },
    mod_ptth_backend => { conf => 'ptth_backend.conf', min => 5 },
);

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    local $/;
    return scalar <$fh>;
}

sub strip_c_comments { my ($s) = @_; $s =~ s{/\*.*?\*/}{ }gs; $s =~ s{//[^\n]*}{}g; $s }

# The directives of a module, in table order: the module record in
# <dir>/<dir>.c names its command table, which may live in any .c file of
# the module's directory.  Sections ("<PTTHPool") are named with the '>'.
sub directives_of {
    my ($dir) = @_;
    my $main = strip_c_comments(slurp("$ROOT/$dir/$dir.c") // '');
    my ($record) = $main =~ /AP_DECLARE_MODULE\s*\(\s*\w+\s*\)\s*=\s*\{(.*?)\};/s;
    return (undef, "no AP_DECLARE_MODULE record in $dir/$dir.c") unless $record;
    $record =~ s/#if.*?#endif//gs;
    my @f = map { s/^\s+|\s+$//gr } split /,/, $record;
    # STANDARD20_MODULE_STUFF, dir create, dir merge, server create,
    # server merge, commands, hooks.
    my $table = $f[5] // '';
    return (undef, "cannot read the command table's name from the module record")
        unless $table =~ /^\w+$/;
    for my $c (sort glob("$ROOT/$dir/*.c")) {
        my $src = strip_c_comments(slurp($c) // '');
        my ($body) = $src =~ /command_rec\s+\Q$table\E\s*\[\s*\]\s*=\s*\{(.*?)\n\s*\}\s*;/s
            or next;
        my $entries = () = $body =~ /\bAP_INIT_\w+\s*\(/g;
        my $sentinels = () = $body =~ /\bAP_INIT_\w+\s*\(\s*NULL\b/g;
        my @names = $body =~ /\bAP_INIT_\w+\s*\(\s*"([^"]+)"/g;
        return (undef, "$table in $c: " . ($entries - $sentinels - @names)
                       . " AP_INIT_* entries without a literal name")
            if @names != $entries - $sentinels;
        return ([map { /^</ ? "$_>" : $_ } @names], "$table in " . ($c =~ s{^\Q$ROOT\E/}{}r));
    }
    return (undef, "command table $table not found in $dir/*.c");
}

# The directive blocks of a page: "## <Name> Directive" headings, each
# followed by a table of "| Field: | value |" rows.
sub doc_blocks {
    my ($text) = @_;
    my %blocks;
    my @parts = split /^##[ \t]+(.+?)[ \t]+Directive[ \t]*$/m, $text;
    shift @parts;
    while (my ($name, $body) = splice(@parts, 0, 2)) {
        $name =~ s/&lt;/</g;
        $name =~ s/&gt;/>/g;
        my %f;
        for my $line (split /\n/, $body) {
            last if $line =~ /^#/;
            next unless $line =~ /^\|/;
            my @cells = map { s/^\s+|\s+$//gr } split /(?<!\\)\|/, $line;
            shift @cells;   # before the first '|'
            next unless @cells >= 2 && $cells[0] =~ /^(\w[\w ]*):$/;
            # The name first: the s///r below resets $1 when it matches.
            my $field = $1;
            $f{$field} = $cells[1] =~ s/\\\|/|/gr;
        }
        $blocks{$name} = \%f;
    }
    return \%blocks;
}

my %known;   # every directive of either module
my %table;
for my $mod (sort keys %MODULES) {
    my ($names, $where) = directives_of($mod);
    ok($names, "$mod: command table found ($where)") or next;
    cmp_ok(scalar @$names, '>=', $MODULES{$mod}{min},
           "$mod: " . scalar(@$names) . " directives: @$names");
    $table{$mod} = $names;
    $known{$_} = 1 for @$names;
}

for my $mod (sort keys %table) {
    my $page = "docs/$mod.md";
    my $text = slurp("$ROOT/$page");
    ok(defined $text, "$page exists") or next;
    my $blocks = doc_blocks($text);
    my %in_code = map { $_ => 1 } @{$table{$mod}};

    for my $d (@{$table{$mod}}) {
        my $b = $blocks->{$d};
        ok($b, "$page documents $d") or next;
        my @missing = grep { !defined $b->{$_} || $b->{$_} eq '' } @FIELDS;
        is_deeply(\@missing, [], "$page: $d has " . join(', ', @FIELDS));
        is($b->{Module} // '', $mod, "$page: $d: Module is $mod");
        (my $bare = $d) =~ s/[<>]//g;
        like($b->{Syntax} // '', qr/^`<?\Q$bare\E\b/, "$page: $d: Syntax starts with the directive");
        like($b->{Default} // '', qr/^(none\b|`\Q$bare\E\b)/,
             "$page: $d: Default is `$bare value` or none");
        like($b->{Context} // '', qr/^(server config|virtual host|directory|\.htaccess)\b/,
             "$page: $d: Context in httpd's terms");
    }
    my @extra = grep { !$in_code{$_} } sort keys %$blocks;
    is_deeply(\@extra, [], "$page documents no directive that $mod lacks");

    # Stale names in the text: PTTHXxx words are directives of either module,
    # except in example output of server-status?auto (indented "Key: value"
    # lines), whose keys are status fields.
    (my $prose = $text) =~ s/^ {4,}PTTH[A-Za-z]+: .*$//mg;
    my %mentioned = map { $_ => 1 } $prose =~ /\b(PTTH[A-Z][A-Za-z]+)\b/g;
    my @unknown = grep { !$known{$_} && !$known{"<$_>"} } sort keys %mentioned;
    is_deeply(\@unknown, [], "$page mentions no PTTH directive that the code lacks");

    # The Debian .conf: each directive commented out, with the page's default.
    my $cf = "build/debian/$MODULES{$mod}{conf}";
    my $conf = slurp("$ROOT/$cf");
    ok(defined $conf, "$cf exists") or next;
    my %listed;
    for (split /\n/, $conf) {
        $listed{$1} = 1 if /^\s*#\s*(<?PTTH\w+)[\s>]/;
    }
    for my $d (@{$table{$mod}}) {
        (my $open = $d) =~ s/>$//;
        ok($listed{$open}, "$cf lists $d");
        my ($default) = ($blocks->{$d}{Default} // '') =~ /^`([^`]*)`/;
        next if !defined $default || $default =~ /</;
        like($conf, qr/^\s*#\s*\Q$default\E\s*$/m, "$cf: $d with its default: #$default");
    }
    my @stale = grep { !$in_code{$_} && !$in_code{"$_>"} } sort keys %listed;
    is_deeply(\@stale, [], "$cf lists no directive that $mod lacks");
}

# The README points to the pages instead of repeating the reference.
my $readme = slurp("$ROOT/README.md") // '';
ok($readme =~ m{\(docs/\Q$_\E\.md\)}, "README.md links docs/$_.md") for sort keys %MODULES;

# Comments in the code cite docs/architecture.md by section title: every
# cited title is a heading there, so the repository explains itself.
{
    my $arch = slurp("$ROOT/docs/architecture.md") // '';
    my %heading = map { $_ => 1 } $arch =~ /^#{2,4}\s+(.+?)\s*$/mg;
    my %cited;
    for my $f (glob("$ROOT/{mod_ptth_router,mod_ptth_backend,common,include}/*.[ch]")) {
        my $src = slurp($f) // next;
        $src =~ s/\n\s*\*\s*/ /g;          # comment lines joined
        (my $short = $f) =~ s{^\Q$ROOT\E/}{};
        # Two loops: one /g match per loop, so that a failing pattern does
        # not reset the other's position.
        push @{$cited{$_}}, $short for $src =~ /docs\/architecture\.md[,(\s]*"([^"]+)"/g;
        push @{$cited{$_}}, $short for $src =~ /"([^"]+)" in docs\/architecture\.md/g;
    }
    ok(scalar(keys %cited) >= 5, sprintf('the code cites %d sections of docs/architecture.md',
                                          scalar keys %cited));
    for my $t (sort keys %cited) {
        ok($heading{$t}, "docs/architecture.md has the section \"$t\" (cited by "
                         . join(', ', sort { $a cmp $b } keys %{{ map { $_ => 1 } @{$cited{$t}} }}) . ')');
    }
    unlike(join("\n", map { slurp($_) // '' }
                       glob("$ROOT/{mod_ptth_router,mod_ptth_backend,common,include}/*.[ch]")),
           qr/DESIGN(?:\.md)? section|the spike|shared\/notes/,
           'no comment cites a document outside the repository');
}

done_testing();
