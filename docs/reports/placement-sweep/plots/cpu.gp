set terminal pngcairo size 900,560 font 'sans,10'
set grid
set key outside right top
set datafile missing '?'
set output "cpu.png"
set title 'Server CPU by process (100 = one core), averaged over the window'
set style data histograms
set style histogram rowstacked
set style fill solid 0.8 border -1
set boxwidth 0.7
set xtics rotate by -35
set ylabel '% of a core'
set yrange [0:*]
plot "cpu.dat" using 2:xtic(1) title "myelin", '' using 3 title "postgres", '' using 4 title "front", '' using 5 title "back", '' using 6 title "sync", '' using 7 title "events"
