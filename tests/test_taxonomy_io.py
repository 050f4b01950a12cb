"""Taxonomy readers and writers: every format, round-trips, validation messages, shared and shipped files."""

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from taxoclass import ClassMismatchError, TaxoclassError, Taxonomy, TaxonomyError
from taxoclass.taxonomy import (WRITE_FORMATS, dumps_taxonomy, format_from_path, load_taxonomy, loads_taxonomy,
                                read_classes, save_taxonomy)
from taxoclass.taxonomy.format_newick import _NEWICK_PLAIN
from taxoclass.taxonomy.format_table import _escape, _split_escaped

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "taxonomies"

FASHION_TSV = """label\tclass\tgroup\tsupergroup\tlineage
0\tT-shirt/top\tTops\tClothing\tClothing/Tops/T-shirt/top
1\tTrouser\tBottoms\tClothing\tClothing/Bottoms/Trouser
5\tSandal\tFootwear\tFootwear\tFootwear/Sandal
9\tAnkle boot\tFootwear\tFootwear\tFootwear/Ankle boot
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def names(nodes):
    return [n[-1] for n in nodes]


# ---------------------------------------------------------------------------------------------- random trees
NAME = st.text(alphabet=st.sampled_from(list("abcXYZ019 _-/\\'\">;|,()[]:#.é")), min_size=1, max_size=8).map(
    str.strip).filter(bool)


@st.composite
def random_taxonomy(draw):
    n = draw(st.integers(2, 25))
    parent = [-1] + [draw(st.integers(0, i - 1)) for i in range(1, n)]
    pool = draw(st.lists(NAME, min_size=1, max_size=6))  # a small pool -> the same name in several places
    raw = [draw(st.sampled_from(pool)) if draw(st.booleans()) else draw(NAME) for _ in range(n)]
    kids = {i: [j for j in range(n) if parent[j] == i] for i in range(n)}
    name = list(raw)
    for i in range(n):  # children of one parent need distinct names
        seen = set()
        for j in kids[i]:
            while name[j] in seen:
                name[j] += "~"
            seen.add(name[j])
    leaves = [i for i in range(n) if not kids[i]]
    seen = set()
    for i in leaves:  # class names are unique
        if name[i] in seen:
            name[i] += f"~{i}"
        seen.add(name[i])

    def path(i):
        p = []
        while i >= 0:
            p.append(name[i])
            i = parent[i]
        return p[::-1]

    forest = draw(st.booleans())
    paths = [path(i)[1:] if forest else path(i) for i in leaves]
    if forest and len(paths) == 1:
        paths = [path(i) for i in leaves]
    order = draw(st.permutations(range(len(paths))))
    return Taxonomy.from_paths([paths[k] for k in order])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_taxonomy())
def test_every_format_round_trips(tax):
    preorder = tuple(n[-1] for n in tax.nodes if tax.is_leaf(n))
    for fmt in WRITE_FORMATS:
        if fmt == "newick" and any("\\" in s and not _NEWICK_PLAIN.fullmatch(s) for n in tax.nodes for s in n):
            with pytest.raises(TaxonomyError, match="has a backslash and characters that need quoting in Newick"):
                dumps_taxonomy(tax, fmt)  # the newick package cannot read such quoted names back
            continue
        back = loads_taxonomy(dumps_taxonomy(tax, fmt), fmt)
        if fmt == "tsv":  # keeps class order, the artificial root and every name exactly
            assert back == tax
            assert back.classes == tax.classes
            assert back.artificial_root == tax.artificial_root
            assert [back.lineage(c) for c in back.classes] == [tax.lineage(c) for c in tax.classes]
        else:  # nested and Newick files store the tree; the class order is the leaf pre-order
            assert back.classes == preorder, fmt
            assert back == tax.with_class_order(preorder), fmt
            assert back.artificial_root == tax.artificial_root, fmt


@settings(max_examples=100, deadline=None)
@given(st.lists(NAME, min_size=1, max_size=6), st.sampled_from(["/", ">", ";", "|"]))
def test_lineage_escaping_round_trips(parts, sep):
    assert _split_escaped(sep.join(_escape(p, sep) for p in parts), sep) == parts


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab \t\n/>,;()':[]{}#-\"\\")), max_size=40),
       st.sampled_from(["json", "yaml", "tsv", "csv", "ecotaxa", "edges", "newick"]))
def test_parsers_fail_only_with_taxonomy_errors(text, fmt):
    try:
        tax = loads_taxonomy(text, fmt)
    except TaxonomyError as exc:
        assert str(exc) and "\n" not in str(exc)  # one line
    else:
        assert tax.n_classes >= 1


# ---------------------------------------------------------------------------------------------- readers
def test_nested_json_and_yaml(tmp_path):
    j = write(tmp_path, "t.json", json.dumps({"animal": {"cat": {}, "dog": None, "birds": ["tit", "owl"]},
                                              "vehicle": {"car": []}}))
    y = write(tmp_path, "t.yaml", "animal:\n  cat: {}\n  dog:\n  birds: [tit, owl]\nvehicle:\n  car: []\n")
    for p in (j, y):
        t = load_taxonomy(p)
        assert t.classes == ("cat", "dog", "tit", "owl", "car")
        assert t.artificial_root and t.root == ("root",)
        assert t.parent("owl") == ("root", "animal", "birds")
    # YAML scalars stay names: 1, true, 3.5 are not converted
    t = loads_taxonomy("top:\n  - 1\n  - true\n  - 3.50\n", "yaml")
    assert t.classes == ("1", "true", "3.50") and t.root == ("top",)


def test_duplicate_keys_are_refused_with_their_line():
    with pytest.raises(TaxonomyError, match=r"line 4: duplicate child 'cat' under 'animal' \(also line 2\)"):
        loads_taxonomy("animal:\n  cat: {}\n  dog: {}\n  cat: {}\n", "yaml", source="t.yaml")
    text = '{\n "animal": {\n  "cat": {},\n  "dog": {},\n  "cat": {}\n }\n}\n'
    with pytest.raises(TaxonomyError, match=r"t.json, line 5: duplicate child 'cat' under 'animal' \(also line 3\)"):
        loads_taxonomy(text, "json", source="t.json")
    with pytest.raises(TaxonomyError, match=r"line 2: invalid JSON"):
        loads_taxonomy('{"a":\n {"b": }}', "json")
    with pytest.raises(TaxonomyError, match=r"line 3: invalid YAML"):
        loads_taxonomy("a:\n  b: {}\n c: [\n", "yaml")


def test_table_with_level_columns_keeps_same_names_apart(tmp_path):
    p = write(tmp_path, "fashion.tsv", FASHION_TSV)
    t = load_taxonomy(p, levels=["supergroup", "group", "class"])
    assert t.classes == ("T-shirt/top", "Trouser", "Sandal", "Ankle boot")  # label order
    assert t.node("Sandal") == ("root", "Footwear", "Footwear", "Sandal")
    assert t.node(("Footwear",)) != t.node(("Footwear", "Footwear"))
    assert t.lca("Sandal", "Trouser") == ("root",)
    # ragged levels: empty cells are skipped
    t = loads_taxonomy("order,family,genus\nA,F1,g1\nA,,g2\nB,F2,\n", "csv", levels="order,family,genus")
    assert [t.lineage(c) for c in t.classes] == [["A", "F1", "g1"], ["A", "g2"], ["B", "F2"]]


def test_lineage_never_splits_a_class_name_silently(tmp_path):
    p = write(tmp_path, "fashion.tsv", FASHION_TSV)
    with pytest.raises(TaxonomyError) as exc:
        load_taxonomy(p)
    msg = str(exc.value)
    assert "fashion.tsv, line 2" in msg and "'T-shirt/top'" in msg
    assert "--levels supergroup,group,class" in msg and r"T-shirt\/top" in msg
    escaped = FASHION_TSV.replace("Clothing/Tops/T-shirt/top", r"Clothing/Tops/T-shirt\/top")
    t = load_taxonomy(write(tmp_path, "esc.tsv", escaped))
    assert t.lineage("T-shirt/top") == ["Clothing", "Tops", "T-shirt/top"]
    assert t.lineage("Sandal") == ["Footwear", "Sandal"]


@pytest.mark.parametrize("sep", [">", ";", "|", "/"])
def test_lineage_separator_is_detected(sep):
    text = f"class\tlineage\ncat\tanimal{sep}mammal{sep}cat\ncar\tvehicle{sep}car\n"
    t = loads_taxonomy(text, "tsv")
    assert t.lineage("cat") == ["animal", "mammal", "cat"] and t.distance("cat", "car") == 5


def test_csv_quoted_names_comments_and_note_column():
    text = ('# a comment\n\nclass,lineage,note\n"cat, domestic","animal/cat, domestic","pets, mostly"\n'
            "dog,animal/dog,\n# trailing comment\n")
    t = loads_taxonomy(text, "csv")
    assert t.classes == ("cat, domestic", "dog") and t.root == ("animal",) and not t.artificial_root


def test_ecotaxa_export_is_deduplicated():
    rows = ["object_id\tobject_annotation_category\tobject_annotation_hierarchy\tobject_area",
            "[t]\t[t]\t[t]\t[f]",
            "o1\tCalanoida\tliving>Copepoda>Calanoida\t10",
            "o2\tegg<Actinopterygii\tliving>Actinopterygii>egg\t3",
            "o3\tCalanoida\tliving>Copepoda>Calanoida\t12",
            "o4\tOithonidae\tliving>Copepoda>Oithonidae\t4",
            "o5\tbubble\tnot-living>bubble\t1"]
    t = loads_taxonomy("\n".join(rows) + "\n", "tsv")  # sniffed from the column
    assert t.classes == ("Calanoida", "egg<Actinopterygii", "Oithonidae", "bubble")
    assert t.lca("Calanoida", "Oithonidae") == ("root", "living", "Copepoda")
    bad = rows[:3] + ["o9\tCalanoida\tliving>Crustacea>Calanoida\t3"]
    with pytest.raises(TaxonomyError, match=r"line 4: class 'Calanoida' has hierarchy .* but line 3 gives"):
        loads_taxonomy("\n".join(bad) + "\n", "ecotaxa")


def test_edge_lists(tmp_path):
    p = write(tmp_path, "t.txt", "parent\tchild\nanimal\tmammal\nmammal\tcat\nanimal\tbird\n# x\nroot2\tcar\n")
    t = load_taxonomy(p)
    assert t.classes == ("cat", "bird", "car") and t.artificial_root
    assert t.depth("cat") == 3
    t = loads_taxonomy("a b\na c\n", "edges")  # whitespace-separated, no header
    assert t.classes == ("b", "c") and t.root == ("a",)
    t = loads_taxonomy("parent\tchild\na\tb\na\tc\n", "tsv")  # sniffed: two columns
    assert t.classes == ("b", "c")


def test_newick_reader():
    t = loads_taxonomy("(('T-shirt/top','it''s',x_y:0.5[comment])Tops,(b,c))Clothing;", "newick")
    assert t.classes == ("T-shirt/top", "it's", "x_y", "b", "c")
    assert t.parent("b") == ("Clothing", "clade_1")  # unnamed internal nodes get generated names
    t = loads_taxonomy("(a,b)plankton;\n(c,d)no_class;\n", "newick")  # forest
    assert t.artificial_root and names(t.children(t.root)) == ["plankton", "no_class"]


# ---------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("fmt,text,pattern", [
    ("edges", "a\tb\nb\tc\nc\tb2\nb2\tb\n", r"t, line 4: node 'b' has two parents, 'a' \(line 1\) and 'b2' "
                                            r"\(line 4\)"),
    ("edges", "x\ty\ny\tz\nz\tx\n", r"cycle x -> y -> z -> x \(line 1, line 2, line 3\)"),
    ("edges", "a\tb\na\tb\n", r"line 2: duplicate child 'b' under 'a' \(also at line 1\)"),
    ("edges", "a\tb\tc\n", r"line 1: malformed line: expected 2 tab-separated columns"),
    ("tsv", "class\tlineage\ncat\tanimal/cat\ncat\tanimal/cat\n", r"'animal/cat' is listed twice \(line 2 and "
                                                                  r"line 3\)"),
    ("tsv", "class\tlineage\ncat\tanimal/cat\ndog\tanimal\tdog\n", r"t, line 3: malformed line: 3 tab-separated "
                                                                    r"column\(s\), but the header \(class, lineage\)"
                                                                    r" has 2"),
    ("csv", "a,b,c\nx,y\n", r"line 2: malformed line: 2 comma-separated"),
    ("tsv", "label\tclass\tlineage\nzero\tcat\tanimal/cat\n", r"line 2: label 'zero' is not an integer"),
    ("tsv", "label\tclass\tlineage\n0\tcat\ta/cat\n0\tdog\ta/dog\n", r"line 3: label 0 is used twice"),
    ("tsv", "class\tlineage\ncat\tanimal//cat\n", r"line 2: lineage 'animal//cat' has an empty level"),
    ("tsv", "class\tlineage\ncat\tanimal/dog\n", r"line 2: the lineage 'animal/dog' split on '/' ends with 'dog', "
                                                 r"not with the class 'cat'"),
    ("tsv", "class\tfamily\tgenus\ncat\tF\tG\n", r"cannot tell how this table describes the tree; tried level "
                                                 r"columns .*EcoTaxa .*lineage column .*edge list .*Columns found: "
                                                 r"class, family, genus"),
    ("tsv", "class\tlineage\n", r"has a header \(class, lineage\) but no rows"),
    ("tsv", "# only a comment\n", r"t: the file is empty"),
    ("yaml", "a:\n  b: {}\n  b: {}\n", r"line 3: duplicate child 'b' under 'a'"),
    ("newick", "((a,b)c,d)root", None),
    ("newick", "((a,b)c,(a2,b2)c)root;", r"duplicate child 'c' under 'root'"),
    ("newick", "((a,b)c,d)root;\n(x,y", r"malformed Newick"),
    ("newick", "((a,)c,d)root;", r"a leaf under 'root/c' has no name"),
    ("json", '{"a": {"x": {}}, "b": {"x": {}}}', r"class names must be unique among leaves, but 'x' at root/a/x, "
                                                  r"root/b/x"),
    ("json", "[]", r"the file holds no nodes"),
])
def test_validation_messages(fmt, text, pattern):
    if pattern is None:  # the Newick package accepts a missing ';'
        assert loads_taxonomy(text, fmt).classes == ("a", "b", "d")
        return
    with pytest.raises(TaxonomyError, match=pattern):
        loads_taxonomy(text, fmt, source="t")


@pytest.mark.parametrize("ext", [".json", ".yaml", ".tsv", ".csv", ".txt", ".nwk"])
def test_empty_files(tmp_path, ext):
    p = write(tmp_path, "empty" + ext, "\n  \n")
    with pytest.raises(TaxonomyError, match=re.escape(str(p)) + r": the file is empty"):
        load_taxonomy(p)


def test_classes_both_sides_listed(tmp_path):
    p = write(tmp_path, "t.tsv", "class\tlineage\ncat\ta/cat\ndog\ta/dog\nowl\tb/owl\n")
    c = write(tmp_path, "classes.txt", "dog\ncat\nemu\nyak\n")
    with pytest.raises(ClassMismatchError) as exc:
        load_taxonomy(p, classes=c)
    msg = str(exc.value)
    assert f"2 class(es) in {c} but not in {p}: emu, yak" in msg
    assert f"1 class(es) in {p} but not in {c}: owl" in msg
    t = load_taxonomy(p, classes=["owl", "dog", "cat"])
    assert t.classes == ("owl", "dog", "cat") and t.class_index("cat") == 2


def test_read_classes(tmp_path):
    assert read_classes(write(tmp_path, "a.txt", "cat\n dog \n\n\n")) == ["cat", "dog"]
    with pytest.raises(TaxonomyError, match=r"b.txt, line 2: blank line"):
        read_classes(write(tmp_path, "b.txt", "cat\n\ndog\n"))
    with pytest.raises(TaxonomyError, match=r"c.txt, line 3: class 'cat' is listed twice \(also line 1\)"):
        read_classes(write(tmp_path, "c.txt", "cat\ndog\ncat\n"))
    with pytest.raises(TaxonomyError, match=r"the file is empty"):
        read_classes(write(tmp_path, "d.txt", ""))


def test_format_and_option_errors(tmp_path):
    assert format_from_path("x.YML") == "yaml" and format_from_path("x.tree") == "newick"
    with pytest.raises(TaxonomyError, match=r"cannot tell the taxonomy format from the extension '.xls'"):
        format_from_path("t.xls")
    with pytest.raises(TaxonomyError, match=r"unknown taxonomy format 'xml'"):
        loads_taxonomy("", "xml")
    with pytest.raises(TaxonomyError, match=r"option\(s\) levels apply only to TSV/CSV"):
        loads_taxonomy("(a,b)r;", "newick", levels=["a"])
    with pytest.raises(TaxonomyError, match=r"level column\(s\) order not in the header; the columns are class"):
        loads_taxonomy("class,lineage\ncat,a/cat\n", "csv", levels=["order", "class"])
    with pytest.raises(TaxonomyError, match=r"no such file"):
        load_taxonomy(tmp_path / "missing.tsv")
    with pytest.raises(TaxonomyError, match=r"not a UTF-8 text file"):
        load_taxonomy(write(tmp_path, "x.tsv", "") and (tmp_path / "x.tsv").write_bytes(b"\xff\xfeab") and
                      tmp_path / "x.tsv")


# ---------------------------------------------------------------------------------------------- writers
def test_tsv_writer_layout():
    t = Taxonomy.from_paths([["Clothing", "Tops", "T-shirt/top"], ["Footwear", "Sandal"]])
    text = dumps_taxonomy(t, "tsv")
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines[0] == "label\tclass\tlineage\tlevel_1\tlevel_2\tlevel_3"
    assert lines[1] == "0\tT-shirt/top\tClothing/Tops/T-shirt\\/top\tClothing\tTops\tT-shirt/top"
    assert lines[2] == "1\tSandal\tFootwear/Sandal\tFootwear\tSandal\t"
    # the level columns read back to the same tree too
    assert loads_taxonomy(text, "tsv", levels=["level_1", "level_2", "level_3"]) == t
    assert dumps_taxonomy(t, "newick").splitlines() == ["((T-shirt/top)Tops)Clothing;", "(Sandal)Footwear;"]


def test_save_is_atomic_and_never_overwrites_silently(tmp_path):
    t = Taxonomy.from_paths([["a", "x"], ["a", "y"]])
    out = save_taxonomy(t, tmp_path / "t.yaml")
    assert load_taxonomy(out) == t
    before = out.read_text()
    with pytest.raises(TaxoclassError, match=r"already exists; choose another output path or pass --overwrite"):
        save_taxonomy(Taxonomy.from_paths([["b", "z"], ["b", "w"]]), out)
    assert out.read_text() == before
    save_taxonomy(Taxonomy.from_paths([["b", "z"], ["b", "w"]]), out, overwrite=True)
    assert load_taxonomy(out).classes == ("z", "w")
    bad = Taxonomy.from_paths([["a", "x\ty"], ["a", "z"]])
    with pytest.raises(TaxonomyError, match=r"contains a tab or line break"):
        save_taxonomy(bad, tmp_path / "bad.tsv")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.yaml"]  # no partial or temporary file left
    with pytest.raises(TaxonomyError, match=r"cannot write the edges format"):
        save_taxonomy(t, tmp_path / "t.txt")
    src = load_taxonomy(out)
    with pytest.raises(TaxoclassError, match=r"is the input file"):
        save_taxonomy(src, out, overwrite=True)


# ---------------------------------------------------------------------------------------------- real files
@pytest.mark.parametrize("name,options", [("ndsb_plankton", {}), ("cifar10", {}),
                                          ("fashion_mnist", {"levels": ["supergroup", "group", "class"]})])
def test_shared_dataset_taxonomies_match_their_classes(shared_datasets, name, options):
    d = shared_datasets / name
    classes = read_classes(d / "classes.txt")
    t = load_taxonomy(d / "taxonomy.tsv", **options)
    assert t.classes == tuple(classes)  # label order = classes.txt order
    shipped = load_taxonomy(SHIPPED / f"{name}.tsv")
    assert shipped == t and shipped.classes == tuple(classes)
    if (d / "taxonomy.json").exists():
        assert load_taxonomy(d / "taxonomy.json", classes=classes) == t


def test_shipped_taxonomies():
    ndsb = load_taxonomy(SHIPPED / "ndsb_plankton.tsv")
    assert ndsb.n_classes == 121 and ndsb.root == ("root",)
    assert names(ndsb.children(ndsb.root)) == ["plankton", "no_class"]
    c100 = load_taxonomy(SHIPPED / "cifar100.tsv")
    assert c100.n_classes == 100 and len(c100.children(c100.root)) == 20
    assert all(len(c100.children(s)) == 5 for s in c100.children(c100.root))
    assert c100.classes == tuple(sorted(c100.classes))  # official fine labels are alphabetical
    assert c100.parent("maple_tree")[-1] == "trees" and c100.parent("pickup_truck")[-1] == "vehicles_1"
    for name, n in [("cifar10", 10), ("fashion_mnist", 10)]:
        assert load_taxonomy(SHIPPED / f"{name}.tsv").n_classes == n
    readme = (SHIPPED / "README.md").read_text()
    for f in SHIPPED.glob("*.tsv"):
        assert f"`{f.name}`" in readme


def test_plankton65_is_the_issue_list_with_a_note_per_class():
    issue = ("Acantharea, Acartiidae, Actinopterygii, Annelida, Bivalvia__Mollusca, Brachyura, bubble, Calanidae, "
             "Calanoida, calyptopsis, Candaciidae, Cavoliniidae, Centropagidae, Chaetognatha, Copilia, Corycaeidae, "
             "Coscinodiscus, Creseidae, cyphonaute, cypris, Decapoda, Doliolida, egg__Actinopterygii, "
             "egg__Cavolinia_inflexa, Eucalanidae, Euchaetidae, eudoxie__Diphyidae, Evadne, Foraminifera, "
             "Fritillariidae, gonophore__Diphyidae, Haloptilus, Harpacticoida, Hyperiidea, larvae__Crustacea, "
             "Limacidae, Limacinidae, Luciferidae, megalopa, multiple__Copepoda, nauplii__Cirripedia, "
             "nauplii__Crustacea, nectophore__Diphyidae, nectophore__Physonectae, Neoceratium, Noctiluca, Obelia, "
             "Oikopleuridae, Oithonidae, Oncaeidae, Ophiuroidea, Ostracoda, Penilia, Phaeodaria, Podon, "
             "Pontellidae, Rhincalanidae, Salpida, Sapphirinidae, scale, seaweed, tail__Appendicularia, "
             "tail__Chaetognatha, Temoridae, zoea__Decapoda").split(", ")
    t = load_taxonomy(SHIPPED / "plankton65.tsv")
    assert t.classes == tuple(issue)
    for c in ("bubble", "seaweed", "scale", "multiple__Copepoda"):
        assert t.lineage(c)[0] == "non_taxonomic"
    assert t.lca("Calanidae", "Oithonidae")[-1] == "Copepoda"
    assert t.lca("Copilia", "Sapphirinidae")[-1] == "Sapphirinidae"
    rows = [ln.split("\t") for ln in (SHIPPED / "plankton65.tsv").read_text().splitlines()
            if not ln.startswith("#")]
    assert rows[0] == ["label", "class", "lineage", "note"]
    assert all(len(r) == 4 and len(r[3]) > 20 for r in rows[1:])


def test_two_columns_named_class_and_group_are_levels_not_edges():
    from taxoclass.taxonomy import loads_taxonomy

    for text in ("class\tgroup\nred_square\twarm\nred_disc\twarm\nblue_disc\tcold\n",
                 "group\tclass\nwarm\tred_square\nwarm\tred_disc\ncold\tblue_disc\n"):
        tax = loads_taxonomy(text, "tsv")
        assert tax.classes == ("red_square", "red_disc", "blue_disc")
        assert tax.lineage("red_disc") == ["warm", "red_disc"]
    edges = loads_taxonomy("parent\tchild\nanimal\tcat\nanimal\tdog\n", "tsv")
    assert edges.classes == ("cat", "dog")
