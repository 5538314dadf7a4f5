"""Word lists for the demo data set (app/demo.py): names, places, companies, titles.

Plain tuples, so the generator stays deterministic: order matters, sets would not do.
"""

from __future__ import annotations

# Country -> (weight among organizations, default language, phone prefix, top-level domain).
COUNTRIES: tuple[tuple[str, int, str, str, str], ...] = (
    ("IT", 70, "it", "+39", "it"),
    ("DE", 8, "de", "+49", "de"),
    ("FR", 6, "fr", "+33", "fr"),
    ("ES", 5, "es", "+34", "es"),
    ("AT", 4, "de", "+43", "at"),
    ("CH", 4, "de", "+41", "ch"),
    ("NL", 3, "en", "+31", "nl"),
)

CITIES: dict[str, tuple[str, ...]] = {
    "IT": (
        "Milano", "Milano", "Milano", "Torino", "Torino", "Bologna", "Bologna", "Firenze",
        "Roma", "Roma", "Napoli", "Verona", "Padova", "Bergamo", "Bergamo", "Brescia",
        "Brescia", "Vicenza", "Treviso", "Modena", "Reggio Emilia", "Parma", "Monza",
        "Como", "Varese", "Genova", "Bari", "Prato", "Udine", "Trento", "Ancona", "Lecco",
    ),
    "DE": ("München", "Stuttgart", "Frankfurt am Main", "Hamburg", "Berlin", "Köln"),
    "FR": ("Paris", "Lyon", "Marseille", "Grenoble", "Nice", "Toulouse"),
    "ES": ("Madrid", "Barcelona", "Valencia", "Bilbao", "Sevilla"),
    "AT": ("Wien", "Graz", "Innsbruck", "Salzburg", "Linz"),
    "CH": ("Zürich", "Lugano", "Basel", "Genève", "Bern"),
    "NL": ("Amsterdam", "Rotterdam", "Eindhoven", "Utrecht"),
}  # fmt: skip

FIRST_NAMES: dict[str, tuple[str, ...]] = {
    "it": (
        "Giulia", "Marco", "Francesca", "Luca", "Chiara", "Alessandro", "Sara", "Andrea",
        "Valentina", "Matteo", "Elena", "Davide", "Federica", "Lorenzo", "Martina",
        "Simone", "Silvia", "Stefano", "Laura", "Paolo", "Alessia", "Giorgio", "Roberta",
        "Riccardo", "Anna", "Fabio", "Elisa", "Massimo", "Paola", "Giovanni", "Cristina",
        "Francesco", "Serena", "Antonio", "Ilaria", "Roberto", "Beatrice", "Emanuele",
        "Monica", "Nicola", "Giada", "Daniele", "Barbara", "Michele", "Caterina",
        "Tommaso", "Veronica", "Filippo", "Alice", "Pietro", "Claudia", "Gabriele",
        "Marta", "Enrico", "Lucia", "Alberto", "Irene", "Mattia", "Eleonora", "Vincenzo",
    ),
    "de": (
        "Anna", "Lukas", "Julia", "Maximilian", "Sophie", "Felix", "Laura", "Jonas",
        "Katharina", "Tobias", "Lena", "Florian", "Hannah", "Sebastian", "Lisa", "Stefan",
        "Sabine", "Thomas", "Claudia", "Matthias", "Petra", "Andreas", "Johanna", "Michael",
    ),
    "fr": (
        "Camille", "Julien", "Chloé", "Nicolas", "Léa", "Thomas", "Manon", "Antoine",
        "Sophie", "Mathieu", "Claire", "Pierre", "Émilie", "Guillaume", "Julie", "Olivier",
        "Marion", "Sébastien", "Aurélie", "Vincent",
    ),
    "es": (
        "Lucía", "Javier", "María", "Carlos", "Paula", "Pablo", "Elena", "Alejandro",
        "Carmen", "Daniel", "Laura", "Sergio", "Marta", "Jorge", "Ana", "David", "Isabel",
        "Miguel",
    ),
    "en": (
        "Emma", "Daan", "Sanne", "Bram", "Lotte", "Jeroen", "Femke", "Thijs", "Anouk",
        "Sven", "Eva", "Ruben", "Iris", "Joost", "Noor", "Pieter",
    ),
}  # fmt: skip

LAST_NAMES: dict[str, tuple[str, ...]] = {
    "it": (
        "Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci",
        "Marino", "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa",
        "Giordano", "Rizzo", "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro",
        "Mariani", "Rinaldi", "Caruso", "Ferrara", "Galli", "Martini", "Leone", "Longo",
        "Gentile", "Martinelli", "Vitale", "Lombardo", "Serra", "Coppola", "De Santis",
        "D'Angelo", "Marchetti", "Parisi", "Villa", "Conte", "Ferraro", "Ferri", "Fabbri",
        "Bianco", "Marini", "Grasso", "Valentini", "Messina", "Sala", "De Angelis",
        "Gatti", "Pellegrini", "Palumbo", "Sanna", "Farina", "Rizzi", "Monti", "Cattaneo",
        "Morelli", "Amato", "Silvestri", "Mazza", "Testa", "Grassi", "Pellegrino",
        "Carbone", "Giuliani", "Benedetti", "Barone", "Brambilla", "Pagani", "Sartori",
        "Zanetti", "Bertolini", "Fumagalli", "Galbiati", "Zanella", "Bonetti", "Rota",
    ),
    "de": (
        "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker",
        "Schulz", "Hoffmann", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder",
        "Neumann", "Schwarz", "Zimmermann", "Braun", "Hofer", "Huber", "Gruber", "Keller",
    ),
    "fr": (
        "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand",
        "Leroy", "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David",
        "Bertrand", "Roux", "Vincent", "Fournier", "Girard", "Bonnet",
    ),
    "es": (
        "García", "Fernández", "González", "Rodríguez", "López", "Martínez", "Sánchez",
        "Pérez", "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno",
        "Álvarez", "Romero", "Navarro", "Torres", "Domínguez",
    ),
    "en": (
        "de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Visser",
        "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters",
        "Hendriks",
    ),
}  # fmt: skip

INDUSTRIES: tuple[tuple[str, int], ...] = (
    ("meccanica", 16),
    ("alimentare", 12),
    ("moda", 9),
    ("arredo", 8),
    ("logistica", 7),
    ("software", 9),
    ("turismo", 6),
    ("vino", 7),
    ("edilizia", 6),
    ("packaging", 5),
    ("chimica", 4),
    ("consulenza", 6),
    ("elettronica", 5),
)

# Words that make a company name sound like its trade, by industry and language family.
INDUSTRY_WORDS: dict[str, dict[str, tuple[str, ...]]] = {
    "meccanica": {
        "it": ("Officine Meccaniche", "Meccanica", "Torneria", "Automazioni", "Ingranaggi"),
        "de": ("Maschinenbau", "Präzisionstechnik", "Antriebstechnik"),
        "fr": ("Mécanique", "Usinage"),
        "es": ("Mecanizados", "Talleres"),
        "en": ("Machinery", "Precision Parts"),
    },
    "alimentare": {
        "it": ("Pastificio", "Caseificio", "Salumificio", "Alimentari", "Dolciaria", "Oleificio"),
        "de": ("Feinkost", "Lebensmittel"),
        "fr": ("Fromagerie", "Biscuiterie"),
        "es": ("Conservas", "Alimentación"),
        "en": ("Foods", "Dairy"),
    },
    "moda": {
        "it": ("Maglificio", "Calzaturificio", "Pelletteria", "Tessitura", "Atelier"),
        "de": ("Textil", "Mode"),
        "fr": ("Couture", "Textile"),
        "es": ("Moda", "Textil"),
        "en": ("Fashion", "Textiles"),
    },
    "arredo": {
        "it": ("Mobilificio", "Arredamenti", "Design", "Imbottiti", "Illuminazione"),
        "de": ("Möbelwerk", "Wohndesign"),
        "fr": ("Mobilier", "Design"),
        "es": ("Muebles", "Diseño"),
        "en": ("Interiors", "Furniture"),
    },
    "logistica": {
        "it": ("Trasporti", "Logistica", "Spedizioni", "Autotrasporti"),
        "de": ("Spedition", "Logistik"),
        "fr": ("Transports", "Logistique"),
        "es": ("Transportes", "Logística"),
        "en": ("Logistics", "Freight"),
    },
    "software": {
        "it": ("Software", "Digital", "Informatica", "Sistemi", "Cloud"),
        "de": ("Software", "IT-Systeme"),
        "fr": ("Logiciels", "Numérique"),
        "es": ("Software", "Sistemas"),
        "en": ("Software", "Digital"),
    },
    "turismo": {
        "it": ("Hotel", "Viaggi", "Resort", "Agriturismo", "Tour"),
        "de": ("Reisen", "Hotel"),
        "fr": ("Voyages", "Hôtel"),
        "es": ("Viajes", "Hoteles"),
        "en": ("Travel", "Hotels"),
    },
    "vino": {
        "it": ("Cantina", "Vini", "Tenuta", "Cantine", "Azienda Vinicola"),
        "de": ("Weingut", "Weinhandel"),
        "fr": ("Domaine", "Vins"),
        "es": ("Bodegas", "Vinos"),
        "en": ("Wines", "Vineyards"),
    },
    "edilizia": {
        "it": ("Costruzioni", "Edilizia", "Impianti", "Serramenti"),
        "de": ("Bau", "Haustechnik"),
        "fr": ("Construction", "Bâtiment"),
        "es": ("Construcciones", "Obras"),
        "en": ("Construction", "Building"),
    },
    "packaging": {
        "it": ("Imballaggi", "Cartotecnica", "Packaging"),
        "de": ("Verpackung",),
        "fr": ("Emballages",),
        "es": ("Embalajes",),
        "en": ("Packaging",),
    },
    "chimica": {
        "it": ("Chimica", "Vernici", "Resine"),
        "de": ("Chemie", "Lacke"),
        "fr": ("Chimie",),
        "es": ("Química",),
        "en": ("Chemicals", "Coatings"),
    },
    "consulenza": {
        "it": ("Consulting", "Studio Associato", "Consulenze", "Partners"),
        "de": ("Beratung", "Consulting"),
        "fr": ("Conseil",),
        "es": ("Consultores",),
        "en": ("Consulting", "Advisors"),
    },
    "elettronica": {
        "it": ("Elettronica", "Elettromeccanica", "Sensori"),
        "de": ("Elektronik", "Sensorik"),
        "fr": ("Électronique",),
        "es": ("Electrónica",),
        "en": ("Electronics",),
    },
}

FANCY_NAMES: tuple[str, ...] = (
    "Alpina", "Adriatica", "Padana", "Euro", "Nord Est", "Tirrenica", "Lariana", "Orobica",
    "Subalpina", "Emiliana", "Toscana", "Lombarda", "Veneta", "Aurora", "Fenice", "Delta",
    "Vega", "Orione", "Aquila", "Stella", "Sirio", "Gamma", "Nova", "Zenit", "Meridiana",
    "Dolomiti", "Garda", "Ticino", "Brenta", "Sesia", "Arno", "Monviso", "Etna", "Sole",
)  # fmt: skip

LEGAL_FORMS: dict[str, tuple[str, ...]] = {
    "IT": ("S.r.l.", "S.r.l.", "S.r.l.", "S.p.A.", "S.n.c.", "S.a.s.", "S.r.l.s."),
    "DE": ("GmbH", "GmbH", "AG", "GmbH & Co. KG"),
    "AT": ("GmbH", "GmbH", "AG"),
    "CH": ("AG", "GmbH", "SA"),
    "FR": ("SAS", "SARL", "SA"),
    "ES": ("S.L.", "S.L.", "S.A."),
    "NL": ("B.V.", "B.V.", "N.V."),
}

TITLES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # (the head, managers, staff)
    "it": (
        ("Titolare", "Amministratore Delegato", "CEO", "Socio fondatore"),
        (
            "Direttore Commerciale", "Responsabile Acquisti", "Responsabile Marketing",
            "Direttore Tecnico", "Export Manager", "Responsabile Produzione",
            "Direttore Amministrativo", "Responsabile IT",
        ),
        (
            "Ufficio Acquisti", "Ufficio Tecnico", "Commerciale Italia", "Area Manager",
            "Marketing Specialist", "Progettista", "Customer Service", "Amministrazione",
            "Key Account", "Buyer", "Responsabile Qualità", "Social Media Manager",
        ),
    ),
    "en": (
        ("Owner", "Managing Director", "CEO", "Founder"),
        (
            "Sales Director", "Head of Purchasing", "Marketing Manager", "Technical Director",
            "Export Manager", "Operations Manager", "CFO", "IT Manager",
        ),
        (
            "Buyer", "Engineer", "Account Manager", "Marketing Specialist", "Customer Service",
            "Office Manager", "Quality Manager", "Project Manager", "Sales Representative",
        ),
    ),
}  # fmt: skip

CONSUMER_EMAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com", "libero.it", "outlook.com", "virgilio.it", "tiscali.it", "icloud.com",
)  # fmt: skip

PRODUCTS: tuple[str, ...] = (
    "linea Pro", "catalogo 2026", "servizio di manutenzione", "nuova collezione",
    "listino rivenditori", "kit campionatura", "abbonamento annuale", "consulenza tecnica",
    "fornitura trimestrale", "edizione limitata",
)  # fmt: skip
